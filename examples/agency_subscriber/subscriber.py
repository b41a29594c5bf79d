"""Receive your agency's events from an Antre MPP broker. Copy this file, replace handle().

    pip install "kombu>=5.3"
    ANTRE_AMQP_URL='amqp://agency-disdukcapil:PASSWORD@mpp-host:5672/%2F' \\
    ANTRE_AGENCY=DISDUKCAPIL python subscriber.py

Environment:
    ANTRE_AMQP_URL   the broker URL with your agency's credentials (from the MPP operator)
    ANTRE_AGENCY     your agency code, e.g. DISDUKCAPIL
    ANTRE_BINDINGS   comma-separated binding keys, default ``*.*.<AGENCY>`` (all your events);
                     e.g. ``ticket.*.DISDUKCAPIL,feedback.submitted.DISDUKCAPIL``
    ANTRE_STORE      sqlite file of handled event ids (default ``antre-<agency>.sqlite3``)
    ANTRE_PREFETCH   unacknowledged messages in flight (default 20)

Delivery is at least once: the same event (same CloudEvent ``id``) may arrive twice.
Each event is handled in one sqlite transaction that also records its id, so a
duplicate is skipped and a crash half-way leaves nothing behind. A message is acked only
after that transaction committed; one that fails twice goes to ``agency.<CODE>.events.dead``.
"""

import json
import logging
import os
import signal
import sqlite3
import time
from contextlib import contextmanager

from kombu import Connection, Exchange, Queue, binding
from kombu.mixins import ConsumerMixin

log = logging.getLogger("antre.subscriber")
RETRY_PAUSE_SECONDS = 5  # before a failed message is retried once


def handle(event, db):
    """YOUR CODE: act on one event. ``db`` is the open sqlite transaction that also records
    the event id: write your effect with it and both commit together (or neither). If your
    effect lives elsewhere (an API call, another database), make it idempotent by event id.
    Raise to have the event retried once, then dead-lettered. Ignore types you don't know."""
    data = event.get("data") or {}
    print(f"{event['type']} {data.get('ticket_number', '-')} counter={data.get('counter') or '-'}")
    if event["type"].startswith("antre.ticket.") and data.get("ticket_id"):
        db.execute("INSERT INTO ticket_status (ticket_id, status, at) VALUES (?, ?, ?) "
                   "ON CONFLICT (ticket_id) DO UPDATE SET status = excluded.status, at = excluded.at "
                   "WHERE excluded.at >= ticket_status.at",  # events may arrive out of order
                   (data["ticket_id"], data.get("status"), event["time"]))


class SeenStore:
    """Ids of the events already handled, in a sqlite file (the handler's tables too)."""

    def __init__(self, path):
        self.db = sqlite3.connect(path, isolation_level=None)  # transactions are explicit
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS seen_events "
                        "(id TEXT PRIMARY KEY, type TEXT NOT NULL, handled_at TEXT NOT NULL)")
        self.db.execute("CREATE TABLE IF NOT EXISTS ticket_status "  # the example handler's
                        "(ticket_id TEXT PRIMARY KEY, status TEXT, at TEXT)")

    @contextmanager
    def transaction(self):
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def seen(self, event_id):
        return self.db.execute("SELECT 1 FROM seen_events WHERE id = ?", (event_id,)).fetchone() is not None

    def close(self):
        self.db.close()


def process(body, store, handler=handle):
    """Handle one message body at most once. True: ack it; False: it failed (not recorded)."""
    try:
        event = json.loads(body)
        event_id, event_type = event["id"], event["type"]
    except (ValueError, TypeError, KeyError):
        log.error("not a CloudEvent (%d bytes)", len(body or b""))
        return False
    try:
        with store.transaction() as db:
            inserted = db.execute(
                "INSERT INTO seen_events (id, type, handled_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                (event_id, event_type, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))).rowcount
            if not inserted:
                log.info("duplicate %s %s skipped", event_type, event_id)
                return True
            handler(event, db)
    except Exception:
        log.exception("handling %s %s failed", event_type, event_id)  # never log the body
        return False
    return True


def declarations(agency, binding_keys):
    """Your durable queue, bound to Antre's exchange, and its dead-letter queue.

    You may only declare names starting with ``agency.<CODE>.``; dead-lettering through the
    default exchange needs a write permission agencies do not have, so the dead letters go
    through an exchange of your own."""
    events = Exchange("antre.events", "topic", durable=True, passive=True)  # Antre's: only checked
    dlx = Exchange(f"agency.{agency}.dlx", "fanout", durable=True)
    dead = Queue(f"agency.{agency}.events.dead", dlx, durable=True)
    queue = Queue(f"agency.{agency}.events", durable=True,
                  bindings=[binding(events, routing_key=key) for key in binding_keys],
                  queue_arguments={"x-dead-letter-exchange": dlx.name})
    return queue, dead


class Subscriber(ConsumerMixin):
    """Consumes with manual acks; kombu's ConsumerMixin reconnects when the broker goes away."""

    def __init__(self, connection, agency, binding_keys, store, prefetch=20, handler=handle):
        self.connection = connection
        self.queue, self.dead = declarations(agency, binding_keys)
        self.store, self.prefetch, self.handler = store, prefetch, handler

    def get_consumers(self, Consumer, channel):  # called on every (re)connection
        self.dead(channel).declare()
        consumer = Consumer(queues=[self.queue], on_message=self.on_message, prefetch_count=self.prefetch)
        return [consumer]

    def on_message(self, message):
        info = message.delivery_info
        if process(message.body, self.store, self.handler):
            message.ack()
        elif info.get("redelivered"):
            log.warning("%s failed twice: to %s", info.get("routing_key"), self.dead.name)
            message.reject(requeue=False)  # dead-lettered, not lost
        else:
            time.sleep(RETRY_PAUSE_SECONDS)
            message.requeue()


def settings(env=os.environ):
    agency = env["ANTRE_AGENCY"].strip().upper()
    keys = env.get("ANTRE_BINDINGS") or f"*.*.{agency}"
    return {"url": env["ANTRE_AMQP_URL"], "agency": agency,
            "bindings": [key.strip() for key in keys.split(",") if key.strip()],
            "store": env.get("ANTRE_STORE") or f"antre-{agency.lower()}.sqlite3",
            "prefetch": int(env.get("ANTRE_PREFETCH") or 20)}


def main():
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config = settings()
    store = SeenStore(config["store"])
    with Connection(config["url"], heartbeat=30) as connection:
        subscriber = Subscriber(connection, config["agency"], config["bindings"], store, config["prefetch"])

        def stop(signum, frame):  # finish the message in hand, then leave
            log.info("signal %s: stopping", signum)
            subscriber.should_stop = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        log.info("consuming %s (bindings %s)", subscriber.queue.name, ", ".join(config["bindings"]))
        subscriber.run()
    store.close()


if __name__ == "__main__":
    main()
