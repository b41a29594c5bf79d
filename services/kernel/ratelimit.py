"""Login lockouts and request limits, as rules on plain values (no I/O).

* :class:`Lockout`: after ``max_failures`` failed logins within ``window_seconds`` a
  name (an account, a client address) is locked for ``lock_seconds``, doubled for each
  further lock up to ``max_lock_seconds``; a long quiet spell (window plus the longest
  lock) forgives. The state is a plain dict the caller stores where every process sees
  it (the catalog keeps it in MongoDB).
* :class:`RateLimit`: at most ``max_requests`` in each fixed window of
  ``window_seconds``; beyond that, refused until the window ends.
* :func:`client_address`: whose request it is. ``X-Real-IP`` (or the last
  ``X-Forwarded-For`` entry, the one the gateway appended) is believed only from a
  trusted peer (``TRUSTED_PROXIES``): the nginx gateway sets it to the address it was
  reached from, overwriting whatever the client sent. Anyone else's headers are ignored.

Times are seconds since the epoch. A maximum of 0 switches a rule off.
"""

import ipaddress
import math
from dataclasses import dataclass

EMPTY = {"failures": 0, "since": None, "locked_until": None, "lockouts": 0,
         "last_failure": None}


def _seconds_until(moment, now):
    return max(1, math.ceil(moment - now)) if moment > now else 0


@dataclass(frozen=True)
class Lockout:
    max_failures: int
    window_seconds: float
    lock_seconds: float
    max_lock_seconds: float

    def lock_period(self, lockouts):
        return min(self.lock_seconds * 2 ** lockouts, self.max_lock_seconds)

    def locked_for(self, state, now):
        """Whole seconds until ``state`` is no longer locked (0: not locked)."""
        until = (state or {}).get("locked_until")
        return _seconds_until(until, now) if until is not None else 0

    def after_failure(self, state, now):
        """The state after one more failure at ``now``."""
        s = {**EMPTY, **(state or {})}
        if self.max_failures <= 0 or self.locked_for(s, now):
            return s
        quiet = self.window_seconds + self.max_lock_seconds
        if s["last_failure"] is not None and now - s["last_failure"] > quiet:
            s = dict(EMPTY)
        if s["since"] is None or now - s["since"] > self.window_seconds:
            s["failures"], s["since"] = 0, now
        s["failures"] += 1
        s["last_failure"] = now
        if s["failures"] >= self.max_failures:
            s["locked_until"] = now + self.lock_period(s["lockouts"])
            s["lockouts"] += 1
            s["failures"], s["since"] = 0, None
        return s

    def keep_seconds(self):
        """How long a state matters after its last change (for the store's expiry)."""
        return self.window_seconds + 2 * self.max_lock_seconds


@dataclass(frozen=True)
class RateLimit:
    name: str
    max_requests: int
    window_seconds: float

    def window(self, now):
        """``(start, end)`` of the fixed window ``now`` is in."""
        start = now // self.window_seconds * self.window_seconds
        return start, start + self.window_seconds

    def retry_after(self, count, now):
        """0 when the ``count``-th request of the window may pass, else the whole
        seconds until the window ends."""
        if self.max_requests <= 0 or count <= self.max_requests:
            return 0
        return _seconds_until(self.window(now)[1], now)


def networks(text):
    """``"127.0.0.1, ::1, 10.0.0.0/8"`` as networks (a single address is a /32 or /128);
    anything else is a ValueError."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False)
                 for part in (text or "").split(",") if part.strip())


def _address(text):
    try:
        return ipaddress.ip_address((text or "").strip())
    except ValueError:
        return None


def client_address(peer, headers, trusted):
    """The client's address: ``peer`` (the connection's remote address) itself, unless
    it is one of the ``trusted`` proxies, whose ``X-Real-IP`` (else last
    ``X-Forwarded-For`` entry) names the client."""
    address = _address(peer)
    if address is None:
        return "unknown"
    if any(address in network for network in trusted):
        forwarded = [part for part in (headers.get("X-Forwarded-For") or "").split(",")]
        for candidate in (headers.get("X-Real-IP"), forwarded[-1]):
            named = _address(candidate)
            if named is not None:
                return str(named)
    return str(address)


def client_of(request, config=None):
    """The address of a (werkzeug) request's client, trusting ``TRUSTED_PROXIES``."""
    from services.kernel.config import setting

    return client_address(request.remote_addr, request.headers,
                          networks(setting("TRUSTED_PROXIES", config)))
