"""Revoked tokens: which signed tokens no longer count, although unexpired.

The catalog keeps one entry per revoked subject (``account:<name>``, ``device:<id>``,
``api_key:<id>``): ``valid_from``, the lowest token generation still accepted. A
token carries its generation in the ``gen`` claim (none means 0). Deactivating an
account raises its ``valid_from`` by one, so every token handed out before is refused,
and a login after reactivation gets a token of the new generation. Revoking a device or
an API key sets ``valid_from`` to 1: its tokens, all of generation 0, are refused for
good. An entry lasts as long as the longest token it can refuse (``expires_at``).

Every other service keeps the catalog's list in memory (:class:`RevocationList`, one
per process) and refreshes it when a token is checked, at most every
``REVOCATION_REFRESH_SECONDS`` (a few seconds), by asking the catalog for the entries
changed since its last answer. So a revocation counts on every service within
``REVOCATION_REFRESH_SECONDS`` plus one round trip.

Plain Python: the catalog's answer is fetched by a function handed in, and the clock is
one too.
"""

import logging
import time

from services.kernel.errors import Unavailable

log = logging.getLogger(__name__)

# Each refresh asks again for what changed in the last OVERLAP_SECONDS before the
# catalog's previous answer: an entry written while that answer was read is not missed.
OVERLAP_SECONDS = 60.0


def generation(claims):
    """A token's generation (its ``gen`` claim; 0 for a token without one)."""
    value = claims.get("gen") or 0
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def refused(claims, valid_from):
    """Whether a token with ``claims`` is revoked by an entry's ``valid_from`` (or None:
    no entry)."""
    return valid_from is not None and generation(claims) < valid_from


class RevocationList:
    """One process's copy of the catalog's revocations.

    ``load(since)`` answers the catalog's ``revocations`` RPC: ``{"as_of": <catalog's
    clock, epoch seconds>, "items": [{"subject", "valid_from", "expires_at"}]}``, the
    entries changed since ``since`` (every live entry for None).
    """

    def __init__(self, refresh_seconds, clock=time.monotonic):
        self.refresh_seconds = float(refresh_seconds)
        self.clock = clock
        self.valid_from = {}  # subject -> lowest accepted generation
        self.expires_at = {}  # subject -> epoch seconds (the catalog's clock)
        self.as_of = None  # the catalog's clock at its last answer
        self.checked_at = None  # our clock at the last refresh (or failed try)
        self.refreshing = False

    def refuses(self, claims, load):
        """Whether the token with ``claims`` has been revoked. Refreshes the list first
        when it is older than ``refresh_seconds``; :class:`Unavailable` when the list was
        never loaded and the catalog does not answer (a token cannot be checked)."""
        self.refresh_if_due(load)
        return refused(claims, self.valid_from.get(claims.get("sub")))

    def refresh_if_due(self, load):
        now = self.clock()
        if self.checked_at is not None and (
                self.refreshing or now - self.checked_at < self.refresh_seconds):
            return  # fresh enough, or another worker of this process is refreshing it
        self.refreshing = True
        try:
            answer = load(None if self.as_of is None else self.as_of - OVERLAP_SECONDS)
        except Exception:
            if self.checked_at is None:
                log.warning("cannot load the revoked tokens: the catalog does not answer",
                            exc_info=True)
                raise Unavailable("Token tidak dapat diperiksa sekarang; coba lagi.") from None
            log.warning("cannot refresh the revoked tokens (the catalog does not answer); "
                        "the list read %.0f s ago still counts", now - self.checked_at)
            self.checked_at = now  # try again after refresh_seconds, not on every request
            return
        finally:
            self.refreshing = False
        self.merge(answer)
        self.checked_at = now

    def merge(self, answer):
        for item in answer["items"]:
            subject = item["subject"]
            self.valid_from[subject] = max(self.valid_from.get(subject, 0), item["valid_from"])
            self.expires_at[subject] = max(self.expires_at.get(subject, 0), item["expires_at"])
        self.as_of = answer["as_of"]
        for subject in [s for s, until in self.expires_at.items() if until <= self.as_of]:
            del self.valid_from[subject], self.expires_at[subject]
