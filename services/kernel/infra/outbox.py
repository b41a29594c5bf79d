"""Transactional outbox: a state change and its events are written together.

A repository writes the new state of a document and appends the events it
caused to that same document's ``outbox`` array in one atomic update. The
relay publishes each pending event to the ``antre.events`` exchange with
publisher confirms and only then removes it from the document. A crash between
the write and the publish leaves the event in the outbox; the periodic sweep
(or the next start) publishes it with the same event id. Delivery is therefore
at least once, and consumers de-duplicate by event id.
"""

import json
import logging
from datetime import timedelta

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
    """What a repository stores in a document's outbox for ``events``."""
    queued_at = utcnow()
    return [
        {"id": event.id, "routing_key": event.routing_key, "envelope": event.envelope(source),
         "queued_at": queued_at}
        for event in events
    ]


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

    The request that wrote an event relays it at once (:meth:`relay_document`). The
    periodic :meth:`sweep` only takes events older than ``grace_seconds``, so it does
    not race the request that is publishing them right now; it exists for what a crash
    or a broker outage left behind.
    """

    def __init__(self, publisher, grace_seconds=5.0, before_publish=None):
        self.publisher = publisher
        self.grace = timedelta(seconds=grace_seconds)
        # A test hook: called before each publish, may raise to simulate a crash.
        self.before_publish = before_publish

    def publish(self, entries):
        """Publish outbox ``entries`` the caller just wrote (it removes them from the
        outbox afterwards); an exception leaves the rest for the sweep."""
        for entry in entries:
            if self.before_publish:
                self.before_publish(entry)
            self.publisher.publish(entry)
        return len(entries)

    def relay_document(self, collection, doc_id):
        doc = collection.find_one({"_id": doc_id}, {OUTBOX: 1})
        return self._relay(collection, doc) if doc else 0

    def sweep(self, collection, limit=500):
        """Relay the pending events of ``collection`` older than the grace period."""
        sent = 0
        stale = {f"{OUTBOX}.queued_at": {"$lte": utcnow() - self.grace}}
        for doc in collection.find(stale, {OUTBOX: 1}).limit(limit):
            sent += self._relay(collection, doc)
        return sent

    def _relay(self, collection, doc):
        sent = 0
        for entry in doc.get(OUTBOX) or []:
            self.publish([entry])
            collection.update_one({"_id": doc["_id"]}, {"$pull": {OUTBOX: {"id": entry["id"]}}})
            sent += 1
        return sent


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
