"""What notify does with events and requests. No nameko here: the service injects the
repository, the vault, catalog and queue lookups, and a clock.

* every ticket call or recall becomes an announcement for the site's display boards;
* a ticket issued with a phone number gets messages: issued (with its status link),
  "N tickets before you", called (go to counter X), no-show;
* every event is delivered to the agency webhooks that asked for it.
"""

import json
import logging
import secrets
import socket
import uuid
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from services.kernel import hours, phone
from services.kernel.errors import Forbidden, InvalidInput, NotFound
from services.kernel.infra.audit import audit
from services.notify import speech
from services.notify.domain import (
    MOVES_QUEUE,
    TERMINAL,
    WebhookTargets,
    backoff,
    message_text,
    public_webhook,
    signature,
    status_link,
    wants,
)
from services.notify.queries import owned_webhook
from services.notify.repository import DEAD, FAILED, PENDING, SENT

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settings:
    near_ahead: int = 3  # "N tickets before you": sent once N or fewer are ahead
    public_base_url: str = "http://localhost:8080"
    message_attempts: int = 5
    message_retry_seconds: float = 5.0  # doubles after each failure
    webhook_attempts: int = 10  # with 10 s doubling: about 85 minutes before "dead"
    webhook_retry_seconds: float = 10.0  # doubles after each failure
    lease_seconds: float = 30.0
    webhook_allowed_private: str = ""  # hosts or networks webhooks may point at inside


def resolve_host(host):
    """Every address ``host`` resolves to (a literal address is itself)."""
    infos = socket.getaddrinfo(host.strip("[]"), None, type=socket.SOCK_STREAM)
    return sorted({info[4][0] for info in infos})


POSITIONS_PER_CALL = 500  # what the queue's ``positions`` answers at most at once


class NotifyCommands:
    def __init__(self, repository, vault, catalog, queue_positions, clock, settings=Settings(),
                 resolve=None):
        self.repo = repository
        self.vault = vault
        self.catalog = catalog  # .site(code), .service(code), .agency(code), .counter(code)
        # [ticket_id, ...] -> {ticket_id: position (1 = next) or None}, one call for all
        self.queue_positions = queue_positions
        self.clock = clock
        self.settings = settings
        self.resolve = resolve or resolve_host  # host -> [address, ...]; OSError if none
        self.targets = WebhookTargets.from_setting(settings.webhook_allowed_private)

    # -- subscriptions ------------------------------------------------------------------

    def subscribe(self, ticket, number, lang="id", secret=None):
        """Keep ``number`` for ``ticket`` (a queue ticket view) and send the first message.

        Returns only the masked number. Raises InvalidInput naming ``phone`` for a bad
        number, without repeating it.
        """
        if lang not in speech.LANGUAGES:
            raise InvalidInput({"lang": [f"Harus salah satu dari: {', '.join(speech.LANGUAGES)}."]})
        try:
            normalised = phone.normalise(number)
        except phone.InvalidPhone as exc:
            raise InvalidInput({"phone": [str(exc)]}) from None
        masked = phone.mask(normalised)
        self.repo.save_subscription({
            "_id": ticket["ticket_id"], "site": ticket["site"], "service": ticket["service"],
            "local_day": ticket["local_day"], "ticket_number": ticket["ticket_number"],
            "phone": self.vault.seal(normalised), "phone_masked": masked, "lang": lang,
            "sent": {}, "ended": False, "created_at": self.clock(),
        })
        link = status_link(self.settings.public_base_url, ticket["ticket_id"], secret)
        ahead = (ticket.get("position") or 1) - 1
        self._message(ticket["ticket_id"], "issued", ahead=ahead, link=link)
        return {"ticket_id": ticket["ticket_id"], "phone": masked, "lang": lang}

    def _message(self, ticket_id, kind, **values):
        """Queue the ``kind`` message for a subscribed ticket, once."""
        subscription = self.repo.subscription(ticket_id)
        if subscription is None or not self.repo.claim_message_kind(ticket_id, kind):
            return False
        service = self._lookup(self.catalog.service, subscription["service"])
        site = self._lookup(self.catalog.site, subscription["site"])
        text = message_text(subscription, kind, service.get("name", subscription["service"]),
                            site.get("name", subscription["site"]), **values)
        now = self.clock()
        self.repo.queue_message({
            "_id": f"{ticket_id}:{kind}", "ticket_id": ticket_id, "kind": kind,
            "site": subscription["site"], "local_day": subscription["local_day"],
            "phone_masked": subscription["phone_masked"], "text": self.vault.seal(text),
            "created_at": now, "next_attempt_at": now,
        })
        return True

    @staticmethod
    def _lookup(get, code):
        """A catalog record, or {} when the catalog cannot give it: names are a courtesy,
        a message or announcement without them still goes out (the failure is logged)."""
        if not code:
            return {}
        try:
            return get(code) or {}
        except Exception as exc:
            log.warning("catalog lookup of %s failed (%s: %s); going on without its names",
                        code, type(exc).__name__, exc)
            return {}

    def forget_past_days(self):
        """Delete phone numbers (and message texts) once their ticket's day is over."""
        removed = 0
        for site_code in self.repo.subscription_sites():
            site = self._lookup(self.catalog.site, site_code)
            today = hours.local_day(site.get("timezone", "Asia/Jakarta"), self.clock())
            removed += self.repo.forget_days_before(site_code, today.isoformat())
        return removed

    # -- events ---------------------------------------------------------------------------

    def on_event(self, envelope):
        """Everything notify does for one public event (idempotent)."""
        kind = envelope["type"].split(".")[1]
        if kind == "ticket":
            self._ticket_event(envelope)
        self._queue_webhook_deliveries(envelope)

    def _ticket_event(self, envelope):
        action = envelope["type"].split(".")[2]
        data = envelope["data"]
        if action in ("called", "recalled"):
            self._announce(envelope, recall=action == "recalled")
        if action == "called":
            counter = self._lookup(self.catalog.counter, data.get("counter"))
            self._message(data["ticket_id"], "called",
                          counter_name=counter.get("name") or data.get("counter"))
        elif action == "no_show":
            self._message(data["ticket_id"], "no_show")
        if action in ("called", *TERMINAL):
            self.repo.end_subscription(data["ticket_id"])
        if action in MOVES_QUEUE:
            self._tell_the_ones_near_their_turn(data["site"], data["service"], data["local_day"])

    def _tell_the_ones_near_their_turn(self, site, service, local_day):
        """One question to the queue for every watched ticket of the line, however many
        there are (never one call per ticket)."""
        watched = [s["_id"] for s in self.repo.waiting_subscriptions(site, service, local_day)
                   if not s.get("sent", {}).get("near")]
        positions = {}
        for start in range(0, len(watched), POSITIONS_PER_CALL):
            positions.update(self.queue_positions(watched[start:start + POSITIONS_PER_CALL]))
        for ticket_id in watched:
            position = positions.get(ticket_id)
            if position is not None and position - 1 <= self.settings.near_ahead:
                self._message(ticket_id, "near", ahead=position - 1)

    def _announce(self, envelope, recall):
        data = envelope["data"]
        counter = self._lookup(self.catalog.counter, data.get("counter"))
        agency = self._lookup(self.catalog.agency, data.get("agency"))
        service = self._lookup(self.catalog.service, data.get("service"))
        counter_name = counter.get("name") or data.get("counter")
        texts = {lang: speech.announcement(data["ticket_number"], data.get("counter"),
                                           counter_name, lang=lang, recall=recall)
                 for lang in speech.LANGUAGES}
        return self.repo.add_announcement({
            "event_id": envelope["id"], "site": data["site"],
            "kind": "recall" if recall else "call", "ticket_number": data["ticket_number"],
            "counter": data.get("counter"), "counter_name": counter_name,
            "agency": data.get("agency"), "agency_name": agency.get("name"),
            "service": data.get("service"), "service_name": service.get("name"),
            "text": texts, "at": envelope["time"],
        })

    # -- webhooks -------------------------------------------------------------------------

    def register_webhook(self, agency, url, secret=None, event_types=("*",), by=None):
        """Register an agency endpoint. Without a ``secret`` one is made and answered
        once (it is stored encrypted and never shown again). ``by``, the principal asking
        over HTTP: an agency admin registers only its own agency's webhooks ("*", every
        agency, is the MPP's), and the registration is audit-logged."""
        if by is not None and not by.in_agency(agency):
            raise Forbidden("Admin instansi hanya dapat mendaftarkan webhook instansinya.",
                            agency=agency)
        self.check_target(url)
        webhook_id = uuid.uuid4().hex
        chosen = secret or secrets.token_urlsafe(32)
        record = {"_id": webhook_id, "agency": agency, "url": url,
                  "secret": self.vault.seal(chosen), "event_types": list(event_types),
                  "active": True, "created_at": self.clock()}
        self.repo.add_webhook(record)
        answer = public_webhook(record)
        if by is not None:
            audit(self.repo.db.audit, by, "webhook_created",
                  {"kind": "webhook", "code": webhook_id}, after=public_webhook(record))
        if not secret:
            answer["secret"] = chosen
        return answer

    def check_target(self, url):
        """A 400 on ``url`` when its host resolves to an address webhooks may not call
        (:class:`~services.notify.domain.WebhookTargets`)."""
        host = urlsplit(url).hostname or ""
        try:
            addresses = self.resolve(host)
        except (OSError, UnicodeError):
            addresses = []
        refusal = self.targets.refusal(host, addresses)
        if refusal:
            raise InvalidInput({"url": [refusal]})

    def set_webhook_active(self, webhook_id, active, by):
        """(De)activate one of ``by``'s agency's webhooks (audit-logged): the webhook as
        it now is."""
        before = public_webhook(owned_webhook(self.repo, by, webhook_id))
        record = public_webhook(self.repo.set_webhook_active(webhook_id, active))
        audit(self.repo.db.audit, by, "webhook_activated" if active else "webhook_deactivated",
              {"kind": "webhook", "code": webhook_id}, before, record)
        return record

    def _queue_webhook_deliveries(self, envelope):
        agency = envelope.get("agency")
        if not agency:
            candidates = self.repo.webhooks_for_agency("*")
        else:
            candidates = self.repo.webhooks_for_agency(agency)
        now = self.clock()
        for webhook in candidates:
            if not wants(webhook, envelope["type"]):
                continue
            self.repo.queue_delivery({
                "_id": f"{webhook['_id']}:{envelope['id']}", "webhook_id": webhook["_id"],
                "event_id": envelope["id"], "event_type": envelope["type"], "envelope": envelope,
                "created_at": now, "next_attempt_at": now,
            })

    def deliver_due(self, post, limit=50):
        """Try every due webhook delivery once; ``post(url, body, headers)`` returns the
        HTTP status or raises. Returns how many were attempted."""
        def attempt(delivery, entry, now):
            webhook = self.repo.webhook(delivery["webhook_id"])
            if webhook is None or not webhook.get("active"):
                # Parked, not lost: redeliver once the webhook is active again.
                entry["error"] = "the webhook is deactivated"
                return None
            body = json.dumps(delivery["envelope"], separators=(",", ":")).encode()
            timestamp = str(int(now.timestamp()))
            status = post(webhook["url"], body, {
                "Content-Type": "application/cloudevents+json",
                "X-Antre-Delivery": delivery["_id"],
                "X-Antre-Timestamp": timestamp,
                "X-Antre-Signature": signature(self.vault.open(webhook["secret"]), timestamp, body),
            })
            entry["status_code"] = status
            if not 200 <= status < 300:
                entry["error"] = f"HTTP {status}"
                return False
            return True

        attempted, _ = self._work_through(
            self.repo.deliveries, limit, attempt, self.settings.webhook_attempts,
            self.settings.webhook_retry_seconds, given_up=DEAD)
        return attempted

    def _work_through(self, collection, limit, attempt, attempts_allowed, retry_base, given_up):
        """Claim the due records of an outgoing ``collection`` one at a time (at most
        ``limit``) and try each: ``attempt(record, entry, now)`` returns True (done), False
        (retry with backoff until ``attempts_allowed``), or None (cannot be tried: given up
        at once); it may raise, which counts as False. It notes what happened in ``entry``,
        which goes to the record's log. Returns ``(attempted, succeeded)``."""
        attempted = succeeded = 0
        for _ in range(limit):
            now = self.clock()
            record = self.repo.claim_due(collection, now, self.settings.lease_seconds)
            if record is None:
                break
            attempted += 1
            attempts = record["attempts"] + 1
            entry = {"at": now, "attempt": attempts}
            try:
                ok = attempt(record, entry, now)
            except Exception as exc:  # recorded in the record's log and retried
                ok = False
                entry["error"] = f"{type(exc).__name__}: {exc}"[:300]
            if ok:
                succeeded += 1
                status, next_at = SENT, None
            elif ok is None or attempts >= attempts_allowed:
                status, next_at = given_up, None
            else:
                status, next_at = PENDING, now + timedelta(seconds=backoff(retry_base, attempts))
            self.repo.record_attempt(collection, record["_id"], entry, status, next_at)
        return attempted, succeeded

    def redeliver(self, delivery_id, by=None):
        """Try a dead (or failed) delivery again from now. ``by``, the principal asking
        over HTTP: only for its own agency's webhooks, and audit-logged."""
        if by is not None:
            owned_webhook(self.repo, by, delivery_id.split(":")[0])
        delivery = self.repo.redeliver(delivery_id, self.clock())
        if delivery is None:
            raise NotFound(f"Tidak ada pengiriman gagal dengan id {delivery_id}.",
                           delivery_id=delivery_id)
        if by is not None:
            audit(self.repo.db.audit, by, "delivery_redelivered",
                  {"kind": "delivery", "code": delivery_id})
        return delivery

    # -- citizen messages -----------------------------------------------------------------

    def send_due_messages(self, provider, limit=50):
        """Send every due citizen message once through ``provider``; returns how many
        were sent."""
        def attempt(message, entry, now):
            entry["provider"] = provider.name
            subscription = self.repo.subscription(message["ticket_id"])
            if subscription is None or "text" not in message:
                entry["error"] = "the number was deleted (the ticket's day is over)"
                return None
            provider.send(self.vault.open(subscription["phone"]), self.vault.open(message["text"]))
            return True

        _, sent = self._work_through(
            self.repo.messages, limit, attempt, self.settings.message_attempts,
            self.settings.message_retry_seconds, given_up=FAILED)
        return sent

