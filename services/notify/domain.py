"""Notify's rules, in plain Python with no I/O: when to retry, how a webhook body is
signed, which webhook wants which event, how a citizen message and a display board's
resume point are worded and chosen, and which addresses a webhook may point at.
"""

import fnmatch
import hashlib
import hmac
import ipaddress
import re

from services.kernel.codes import is_code

TERMINAL = ("completed", "no_show", "cancelled", "transferred")
# Events after which the tickets still waiting for a service may have moved up.
MOVES_QUEUE = ("called", "cancelled", "transferred", "no_show", "completed")

MAX_BACKOFF_SECONDS = 3600


def backoff(base_seconds, attempts):
    """The wait before attempt ``attempts + 1``: base, 2 x base, 4 x base, ... (at most
    an hour)."""
    return min(base_seconds * (2 ** (attempts - 1)), MAX_BACKOFF_SECONDS)


def signature(secret, timestamp, body):
    """HMAC-SHA256 over ``<timestamp>.<body>``, hex: the ``X-Antre-Signature`` value."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def wants(webhook, event_type):
    """Whether a webhook asked for events of ``event_type`` (its patterns, ``*`` and ``?``
    as in shell globs)."""
    return any(fnmatch.fnmatchcase(event_type, pattern) for pattern in webhook["event_types"])


MESSAGES = {
    "id": {
        "issued": "Antre {site_name}: nomor antrean {ticket_number} untuk {service_name}. "
                  "{ahead_text} Pantau di {link}",
        "near": "Antre: {near_text} Mohon bersiap di dekat loket.",
        "called": "Antre: nomor {ticket_number} dipanggil. Silakan menuju {counter_name} sekarang.",
        "no_show": "Antre: nomor {ticket_number} tidak hadir saat dipanggil. Silakan ambil nomor "
                   "baru bila masih memerlukan layanan.",
    },
    "en": {
        "issued": "Antre {site_name}: ticket {ticket_number} for {service_name}. "
                  "{ahead_text} Follow it at {link}",
        "near": "Antre: {near_text} Please get ready near the counter.",
        "called": "Antre: ticket {ticket_number} is called. Please go to {counter_name} now.",
        "no_show": "Antre: ticket {ticket_number} was not present when called. Please take a "
                   "new ticket if you still need the service.",
    },
}


def ahead_phrases(lang, ahead, ticket_number):
    """How many are before a ticket, said properly for 0, 1 and more."""
    if lang == "en":
        if ahead == 0:
            return {"ahead_text": "You are next.", "near_text": f"{ticket_number} is next."}
        word = "ticket" if ahead == 1 else "tickets"
        return {"ahead_text": f"{ahead} {word} ahead of you.",
                "near_text": f"{ahead} {word} left before {ticket_number}."}
    if ahead == 0:
        return {"ahead_text": "Anda berikutnya.",
                "near_text": f"giliran {ticket_number} berikutnya."}
    return {"ahead_text": f"Ada {ahead} antrean sebelum Anda.",
            "near_text": f"tinggal {ahead} antrean lagi sebelum {ticket_number}."}


def message_text(subscription, kind, service_name, site_name, **values):
    """The ``kind`` message to a subscribed ticket, in its language."""
    if "ahead" in values:
        values.update(ahead_phrases(subscription["lang"], values["ahead"],
                                    subscription["ticket_number"]))
    return MESSAGES[subscription["lang"]][kind].format(
        ticket_number=subscription["ticket_number"], service_name=service_name,
        site_name=site_name, **values)


def status_link(base_url, ticket_id, secret=None):
    """The ticket's status page; its secret in the fragment, which never reaches a server
    (so no log keeps it)."""
    link = f"{base_url}/tiket/{ticket_id}"
    return f"{link}#{secret}" if secret else link


def public_webhook(record):
    """A webhook as the API shows it: never its secret."""
    return {"webhook_id": record["_id"], "agency": record["agency"], "url": record["url"],
            "event_types": record["event_types"], "active": record["active"],
            "created_at": record["created_at"]}


def stream_start(last_event_id, after, newest):
    """The announcement a display board's stream goes on after: the one it last saw
    (``Last-Event-ID``, when it is a number), else ``after``, else the newest (a new
    board reads /recent for the past). An id beyond ``newest`` means our numbering
    started again (an in-memory store that restarted): carry on from now rather than
    wait for the old number."""
    if last_event_id is not None and re.fullmatch(r"[0-9]{1,15}", last_event_id):
        start = int(last_event_id)
    elif after is not None:
        start = after
    else:
        start = newest
    return min(start, newest)


def shown_site(site):
    """The site code a display page shows: a code, or nothing."""
    return site if is_code(site, max_length=16) else ""


class WebhookTargets:
    """Where webhooks may point: global addresses only, unless the operator allows
    hosts or networks (``WEBHOOK_ALLOWED_PRIVATE``: ``"127.0.0.1, 10.20.0.0/16,
    intranet.local"``). Loopback, link-local, private (RFC 1918, fc00::/7), shared,
    documentation, unspecified, multicast and reserved addresses are refused."""

    def __init__(self, hosts=(), networks=()):
        self.hosts = frozenset(h.lower() for h in hosts)
        self.networks = tuple(networks)

    @classmethod
    def from_setting(cls, text):
        hosts, networks = [], []
        for part in (text or "").split(","):
            part = part.strip()
            if not part:
                continue
            try:
                networks.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                if "/" in part or not re.fullmatch(r"[A-Za-z0-9.-]+", part):
                    raise ValueError(f"WEBHOOK_ALLOWED_PRIVATE: {part!r} is neither a host "
                                     f"nor an address or network") from None
                hosts.append(part)
        return cls(hosts, networks)

    def _allowed(self, address):
        ip = ipaddress.ip_address(address)
        if any(ip in network for network in self.networks):
            return True
        if ip.version == 6 and ip.ipv4_mapped is not None:
            return self._allowed(str(ip.ipv4_mapped))
        return (ip.is_global and not ip.is_multicast and not ip.is_reserved
                and not ip.is_unspecified)

    def refusal(self, host, addresses):
        """Why a webhook to ``host``, which resolves to ``addresses``, is refused (a
        message in Bahasa Indonesia), or None when it may be called."""
        if (host or "").strip("[]").lower() in self.hosts:
            return None
        if not addresses:
            return f"Nama host {host} tidak dapat ditemukan."
        for address in addresses:
            if not self._allowed(address):
                return (f"Alamat webhook {host} mengarah ke alamat internal ({address}); "
                        f"izinkan di WEBHOOK_ALLOWED_PRIVATE bila memang dimaksudkan.")
        return None
