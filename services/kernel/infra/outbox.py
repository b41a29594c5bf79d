"""Transactional outbox: a state change and its events are written together.

A repository writes the new state of a document and appends the events it
caused to that same document's ``outbox`` array in one atomic update. The
relay publishes each pending event to the ``antre.events`` exchange with
publisher confirms and only then removes it from the document. A crash between
the write and the publish leaves the event in the outbox; the periodic sweep
(or the next start) publishes it with the same event id. Delivery is therefore
at least once, and consumers de-duplicate by event id.

Outside crashes each event is published once. Whoever publishes an entry claims it
first with a conditional write: the request that writes an entry holds its claim from
birth (``claimed_at`` is its ``queued_at``, in the same atomic write, so the request's
own relay costs no extra write); a relay of a whole document (:meth:`OutboxRelay.
relay_document`) or a sweep takes an entry over only by replacing the ``claim`` it read
(``find``, then an update conditional on that claim: of two takers one wins). A claim
older than the grace period is stale, so what a dead process claimed is taken over by
the next sweep; the grace must be longer than a publish takes.
"""

import json
import logging
import uuid
from datetime import UTC, timedelta

from kombu import Exchange
from nameko.amqp.publish import Publisher
from nameko.extensions import DependencyProvider

from services.kernel.config import setting
from services.kernel.events import CONTENT_TYPE, utcnow
from services.kernel.infra.timers import configured_timer

log = logging.getLogger(__name__)

OUTBOX = "outbox"


def events_exchange(config=None):
    return Exchange(setting("EVENTS_EXCHANGE", config), type="topic", durable=True)


def outbox_entries(events, source):
    """What a repository stores in a document's outbox for ``events``: claimed by the
    request that writes them (``claimed_at``, no ``claim`` token), which publishes them."""
    queued_at = utcnow()
    return [
        {"id": event.id, "routing_key": event.routing_key, "envelope": event.envelope(source),
         "queued_at": queued_at, "claimed_at": queued_at}
        for event in events
    ]


def _utc(moment):
    """A stored time as an aware UTC datetime (the embedded store gives them naive)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _claimed_at(entry):
    return _utc(entry.get("claimed_at") or entry["queued_at"])  # entries of older versions


def push_outbox(entries):
    """The update fragment that appends ``entries`` to a document's outbox."""
    return {"$push": {OUTBOX: {"$each": entries}}} if entries else {}


class EventPublisher:
    """Publishes envelopes on the events exchange and waits for the broker's confirm."""

    def __init__(self, amqp_uri, exchange):
        self.exchange = exchange
        self.publisher = Publisher(amqp_uri, use_confirms=True, declare=[exchange])

    def publish(self, entry):
        envelope = entry["envelope"]
        self.publisher.publish(
            json.dumps(envelope, separators=(",", ":")),
            exchange=self.exchange,
            routing_key=entry["routing_key"],
            content_type=CONTENT_TYPE,
            content_encoding="utf-8",
            delivery_mode=2,
            message_id=envelope["id"],
            headers={"ce_type": envelope["type"], "ce_id": envelope["id"]},
            retry=True,
            retry_policy={"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5},
        )


class OutboxRelay:
    """Moves pending events from documents to the broker.

    The request that wrote an event relays it at once (:meth:`publish` from memory, or
    :meth:`relay_document`). The periodic :meth:`sweep` only takes entries whose claim
    is older than ``grace_seconds``, so it does not race the request that is publishing
    them right now; it exists for what a crash or a broker outage left behind.
    """

    def __init__(self, publisher, grace_seconds=5.0, before_publish=None):
        self.publisher = publisher
        self.grace = timedelta(seconds=grace_seconds)
        # A test hook: called before each publish, may raise to simulate a crash.
        self.before_publish = before_publish

    def publish(self, entries):
        """Publish outbox ``entries`` the caller just wrote, and so holds the claim of
        (it removes them from the outbox afterwards); an exception leaves the rest for
        the sweep."""
        for entry in entries:
            if self.before_publish:
                self.before_publish(entry)
            self.publisher.publish(entry)
        return len(entries)

    def relay_document(self, collection, doc_id):
        """Publish what the document's outbox holds that no other relay or sweep is
        publishing now: entries still held by their writers, and stale claims."""
        doc = collection.find_one({"_id": doc_id}, {OUTBOX: 1})
        if not doc:
            return 0
        cutoff = utcnow() - self.grace
        return self._relay(collection, doc, lambda entry: "claim" not in entry
                           or _claimed_at(entry) <= cutoff)

    def sweep(self, collection, limit=500):
        """Relay the pending entries of ``collection`` whose claim is older than the grace
        period (a claim is never older than its entry: the query is on ``queued_at``)."""
        cutoff = utcnow() - self.grace
        sent = 0
        stale = {f"{OUTBOX}.queued_at": {"$lte": cutoff}}
        for doc in collection.find(stale, {OUTBOX: 1}).limit(limit):
            sent += self._relay(collection, doc, lambda entry: _claimed_at(entry) <= cutoff)
        return sent

    def _relay(self, collection, doc, takeable):
        sent = 0
        for entry in doc.get(OUTBOX) or []:
            if not takeable(entry) or not self._claim(collection, doc["_id"], entry):
                continue  # somebody else is publishing it
            self.publish([entry])
            collection.update_one({"_id": doc["_id"]}, {"$pull": {OUTBOX: {"id": entry["id"]}}})
            sent += 1
        return sent

    @staticmethod
    def _claim(collection, doc_id, entry):
        """Take ``entry`` over: replace the claim read with a new one, only if nobody
        replaced it meanwhile (and the entry is still there)."""
        current = {"id": entry["id"], "claim": entry.get("claim")}  # None: the writer's
        taken = collection.update_one(
            {"_id": doc_id, OUTBOX: {"$elemMatch": current}},
            {"$set": {f"{OUTBOX}.$.claim": uuid.uuid4().hex, f"{OUTBOX}.$.claimed_at": utcnow()}})
        return taken.matched_count == 1


class Outbox(DependencyProvider):
    """Gives workers an :class:`OutboxRelay` bound to the service's broker and exchange."""

    def setup(self):
        config = self.container.config
        publisher = EventPublisher(setting("AMQP_URI", config), events_exchange(config))
        self.relay = OutboxRelay(publisher, float(setting("OUTBOX_GRACE_SECONDS", config)))

    def get_dependency(self, worker_ctx):
        return self.relay


def sweep_timer(method):
    """Run ``method`` every ``OUTBOX_SWEEP_SECONDS`` (default 2 s), and at start-up."""
    return configured_timer("OUTBOX_SWEEP_SECONDS")(method)
