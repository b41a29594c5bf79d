"""Consuming public events without losing any.

``@event_handler("ticket.#", "feedback.#")`` consumes from a durable queue
``<service>.events`` bound to the events exchange. nameko acks a message even when
its handler raises; this entrypoint does not let that lose an event:

* a failed message is first republished (with publisher confirms) to
  ``<service>.events.retry``, a queue whose messages expire after
  ``EVENT_RETRY_SECONDS`` back into ``<service>.events``; only then is it acked;
* after ``EVENT_MAX_ATTEMPTS`` failures it goes to ``<service>.events.dead``, the
  dead-letter queue an operator inspects (:func:`peek_dead_letters`), re-queues or
  drops one by one (:func:`take_dead_letter`) or replays (:func:`replay_dead_letters`)
  once the cause is fixed.

Before a handler sees a message, it must be an event of the published contract
(:mod:`services.kernel.contract`): a body that cannot be decoded (bad JSON, not UTF-8,
a content type nobody accepts, such as pickle) or that the contract refuses (an array,
null, a missing id, a wrong type, an unknown event type, ...) goes straight to the
dead-letter queue with the reason: retrying would not change it, and it must never be
stored or acted on.

Delivery is at least once, so handlers must be idempotent (de-duplicate by event id).
"""

import base64
import hashlib
import json
import logging
import traceback
import uuid

from kombu import Connection, Queue, binding
from kombu.serialization import register
from nameko.amqp.publish import Publisher
from nameko.messaging import Consumer, QueueConsumer

from services.kernel.config import setting
from services.kernel.contract import contract
from services.kernel.events import CONTENT_TYPE, isoformat, utcnow
from services.kernel.infra.outbox import events_exchange

log = logging.getLogger(__name__)

ATTEMPTS_HEADER = "x-antre-attempts"
ERROR_HEADER = "x-antre-error"
ROUTING_KEY_HEADER = "x-antre-routing-key"
DEAD_LETTER_ID_HEADER = "x-antre-dead-letter-id"
DEAD_AT_HEADER = "x-antre-dead-at"


def queue_names(service_name):
    base = f"{service_name}.events"
    return base, f"{base}.retry", f"{base}.dead"


def declare_queues(amqp_uri, service_name, bindings, retry_seconds, config=None):
    """Declare the main, retry and dead-letter queues; returns them."""
    main_name, retry_name, dead_name = queue_names(service_name)
    exchange = events_exchange(config)
    main = Queue(main_name, exchange, durable=True,
                 bindings=[binding(exchange, routing_key=key) for key in bindings])
    retry = Queue(retry_name, durable=True, queue_arguments={
        "x-message-ttl": int(retry_seconds * 1000),
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": main_name,
    })
    dead = Queue(dead_name, durable=True)
    with Connection(amqp_uri) as connection:
        channel = connection.default_channel
        for queue in (main, retry, dead):
            queue(channel).declare()
    return main, retry, dead


def register_codec():
    """Let kombu (and so nameko consumers) decode structured-mode CloudEvents; called
    when a consumer starts, never at import (registering twice changes nothing)."""
    register(
        "cloudevents",
        lambda obj: json.dumps(obj, separators=(",", ":")),
        json.loads,
        content_type=CONTENT_TYPE,
        content_encoding="utf-8",
    )


class EventQueueConsumer(QueueConsumer):
    """nameko's queue consumer, but a message kombu cannot decode goes to its provider
    (which dead-letters it) instead of kombu's default, which logs and acks it: lost."""

    def on_decode_error(self, message, exc):
        tag = message.delivery_info.get("consumer_tag")
        owners = [provider for provider, consumer in self._consumers.items()
                  if tag in consumer._active_tags.values()]
        if not owners and len(self._consumers) == 1:
            owners = list(self._consumers)
        if len(owners) != 1:
            log.error("an undecodable message has no consumer to park it; requeued")
            self.requeue_message(message)
            return
        owners[0].handle_undecodable(message, exc)


class EventConsumer(Consumer):
    queue_consumer = EventQueueConsumer()

    def __init__(self, *bindings, **kwargs):
        self.bindings = bindings or ("#",)
        super().__init__(queue=None, **kwargs)

    def setup(self):
        config = self.container.config
        self.max_attempts = int(setting("EVENT_MAX_ATTEMPTS", config))
        retry_seconds = float(setting("EVENT_RETRY_SECONDS", config))
        amqp_uri = setting("AMQP_URI", config)
        self.queue, self.retry_queue, self.dead_queue = declare_queues(
            amqp_uri, self.container.service_name, self.bindings, retry_seconds, config)
        self.publisher = Publisher(amqp_uri, use_confirms=True)
        # Public events are structured-mode CloudEvents (application/cloudevents+json).
        register_codec()
        if "cloudevents" not in self.container.accept:
            self.container.accept = [*self.container.accept, "cloudevents"]
        self.contract = contract(config)
        super().setup()

    def handle_message(self, body, message):
        problems = self.contract.problems(body)
        if problems:
            self._park_invalid(message, f"InvalidEvent: {'; '.join(problems)}")
            return
        super().handle_message(body, message)

    def handle_undecodable(self, message, exc):
        self._park_invalid(message, f"UndecodableEvent: {type(exc).__name__}: {exc}")

    def _park_invalid(self, message, reason):
        try:
            self._park(message, self.dead_queue, reason, attempts=1, refused=True)
        except Exception:  # could not park it: let the broker redeliver it instead
            log.exception("could not dead-letter an invalid event; requeueing it")
            self.queue_consumer.requeue_message(message)
            return
        self.queue_consumer.ack_message(message)

    def handle_message_processed(self, message, result=None, exc_info=None):
        if exc_info is not None:
            try:
                self._retry_or_dead_letter(message, exc_info)
            except Exception:  # could not park it: let the broker redeliver it instead
                log.exception("could not park a failed event; requeueing it")
                self.queue_consumer.requeue_message(message)
                return
        self.queue_consumer.ack_message(message)

    def _retry_or_dead_letter(self, message, exc_info):
        attempts = int((message.headers or {}).get(ATTEMPTS_HEADER, 0)) + 1
        error = "".join(traceback.format_exception_only(exc_info[0], exc_info[1])).strip()
        target = self.retry_queue if attempts < self.max_attempts else self.dead_queue
        self._park(message, target, error, attempts)

    def _park(self, message, target, error, attempts, refused=False):
        """Republish ``message`` to ``target`` (retry or dead-letter queue), with why."""
        headers = dict(message.headers or {})
        headers.update({
            ATTEMPTS_HEADER: attempts,
            ERROR_HEADER: error[:1000],
            ROUTING_KEY_HEADER: headers.get(ROUTING_KEY_HEADER)
            or message.delivery_info.get("routing_key"),
        })
        if target is self.dead_queue:
            headers[DEAD_LETTER_ID_HEADER] = uuid.uuid4().hex
            headers[DEAD_AT_HEADER] = isoformat(utcnow())
        log.warning("event %s %s: %s; sent to %s", message.properties.get("message_id"),
                    "refused" if refused else f"failed (attempt {attempts} of {self.max_attempts})",
                    error[:300], target.name)
        self.publisher.publish(
            message.body, exchange="", routing_key=target.name, headers=headers,
            content_type=message.content_type, content_encoding=message.content_encoding,
            message_id=message.properties.get("message_id"), delivery_mode=2,
        )


event_handler = EventConsumer.decorator


def backlog(amqp_uri, service_name):
    """Events waiting in the service's queue (not yet handed to a worker), and in its
    retry and dead-letter queues: ``{"ready": n, "retrying": n, "dead": n}``. Each is
    read with a passive declare (one broker round trip; nothing is created)."""
    names = dict(zip(("ready", "retrying", "dead"), queue_names(service_name), strict=True))
    with Connection(amqp_uri) as connection:
        channel = connection.default_channel
        return {kind: channel.queue_declare(queue=name, passive=True).message_count
                for kind, name in names.items()}


def _dead_letters(amqp_uri, service_name, limit):
    """Up to ``limit`` messages of the service's dead-letter queue, unacked: a message
    the caller does not ack goes back to the queue, in order, when the connection closes.
    Bodies are not decoded here: a dead letter may be anything."""
    _, _, dead_name = queue_names(service_name)
    with Connection(amqp_uri) as connection:
        queue = Queue(dead_name, durable=True)(connection.default_channel)
        queue.declare()
        for _ in range(limit):
            message = queue.get(no_ack=False)
            if message is None:
                return
            yield message


def dead_letter_id(message):
    """The id given when the letter was parked; for letters parked before ids existed,
    a digest of the body and headers (stable while the letter stays in the queue)."""
    headers = message.headers or {}
    if headers.get(DEAD_LETTER_ID_HEADER):
        return str(headers[DEAD_LETTER_ID_HEADER])
    raw = message.body if isinstance(message.body, bytes) else str(message.body).encode()
    seen = json.dumps({k: str(v) for k, v in sorted(headers.items())}).encode()
    return "d" + hashlib.sha256(raw + b"\0" + seen).hexdigest()[:31]


def describe_dead_letter(message):
    """A dead letter as an operator reads it (JSON-ready, whatever its body is):
    ``event`` when the body is a JSON document, else ``body`` as text when it is UTF-8,
    else as base64; with the content type, the reason and when it was parked."""
    headers = message.headers or {}
    raw = message.body if isinstance(message.body, bytes) else str(message.body).encode()
    record = {
        "id": dead_letter_id(message),
        "attempts": headers.get(ATTEMPTS_HEADER),
        "error": headers.get(ERROR_HEADER),
        "routing_key": headers.get(ROUTING_KEY_HEADER),
        "dead_lettered_at": headers.get(DEAD_AT_HEADER),
        "message_id": message.properties.get("message_id"),
        "content_type": message.content_type,
        "content_encoding": message.content_encoding,
        "size": len(raw),
        "event": None,
        "body": None,
        "body_encoding": None,
    }
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        record["body"], record["body_encoding"] = base64.b64encode(raw).decode(), "base64"
        return record
    try:
        record["event"], record["body_encoding"] = json.loads(text), "json"
    except ValueError:
        record["body"], record["body_encoding"] = text, "text"
    return record


def peek_dead_letters(amqp_uri, service_name, limit=100):
    """The first ``limit`` dead letters, left in their queue, each as
    :func:`describe_dead_letter` shows it."""
    return [describe_dead_letter(m) for m in _dead_letters(amqp_uri, service_name, limit)]


def _publish_back(publisher, message, main_name):
    headers = {k: v for k, v in (message.headers or {}).items()
               if k not in (ATTEMPTS_HEADER, DEAD_LETTER_ID_HEADER, DEAD_AT_HEADER)}
    publisher.publish(message.body, exchange="", routing_key=main_name, headers=headers,
                      content_type=message.content_type,
                      content_encoding=message.content_encoding,
                      message_id=message.properties.get("message_id"), delivery_mode=2)


def replay_dead_letters(amqp_uri, service_name, limit=100):
    """Move up to ``limit`` dead letters back to the service's queue; returns how many."""
    main_name, _, _ = queue_names(service_name)
    publisher = Publisher(amqp_uri, use_confirms=True)
    moved = 0
    for message in _dead_letters(amqp_uri, service_name, limit):
        _publish_back(publisher, message, main_name)
        message.ack()
        moved += 1
    return moved


SEARCH_LIMIT = 10000  # how far into the dead-letter queue one letter is looked for


def take_dead_letter(amqp_uri, service_name, letter_id, action):
    """Re-queue (``action="requeue"``: back to the service's queue, its attempts
    starting again) or drop (``"drop"``) the dead letter ``letter_id``; the others stay
    where they are. Returns the letter as it was, or None when there is none."""
    if action not in ("requeue", "drop"):
        raise ValueError(f"action must be requeue or drop, not {action!r}")
    main_name, _, _ = queue_names(service_name)
    for message in _dead_letters(amqp_uri, service_name, SEARCH_LIMIT):
        if dead_letter_id(message) != letter_id:
            continue  # left unacked: back in the queue when the connection closes
        record = describe_dead_letter(message)
        if action == "requeue":
            _publish_back(Publisher(amqp_uri, use_confirms=True), message, main_name)
        message.ack()
        return record
    return None
