"""Consuming public events without losing any.

``@event_handler("ticket.#", "feedback.#")`` consumes from a durable queue
``<service>.events`` bound to the events exchange. nameko acks a message even when
its handler raises; this entrypoint does not let that lose an event:

* a failed message is first republished (with publisher confirms) to
  ``<service>.events.retry``, a queue whose messages expire after
  ``EVENT_RETRY_SECONDS`` back into ``<service>.events``; only then is it acked;
* after ``EVENT_MAX_ATTEMPTS`` failures it goes to ``<service>.events.dead``, the
  dead-letter queue an operator inspects (:func:`peek_dead_letters`) and replays
  (:func:`replay_dead_letters`) once the cause is fixed.

Delivery is at least once, so handlers must be idempotent (de-duplicate by event id).
"""

import logging
import traceback

from kombu import Connection, Queue, binding
from nameko.amqp.publish import Publisher
from nameko.messaging import Consumer

from services.kernel.config import setting
from services.kernel.outbox import events_exchange

log = logging.getLogger(__name__)

ATTEMPTS_HEADER = "x-antre-attempts"
ERROR_HEADER = "x-antre-error"
ROUTING_KEY_HEADER = "x-antre-routing-key"


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


class EventConsumer(Consumer):
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
        if "cloudevents" not in self.container.accept:
            self.container.accept = [*self.container.accept, "cloudevents"]
        super().setup()

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
        headers = dict(message.headers or {})
        attempts = int(headers.get(ATTEMPTS_HEADER, 0)) + 1
        error = "".join(traceback.format_exception_only(exc_info[0], exc_info[1])).strip()
        headers.update({
            ATTEMPTS_HEADER: attempts,
            ERROR_HEADER: error[:1000],
            ROUTING_KEY_HEADER: headers.get(ROUTING_KEY_HEADER)
            or message.delivery_info.get("routing_key"),
        })
        target = self.retry_queue if attempts < self.max_attempts else self.dead_queue
        log.warning("event %s failed (attempt %d of %d): %s; sent to %s",
                    message.properties.get("message_id"), attempts, self.max_attempts, error,
                    target.name)
        self.publisher.publish(
            message.body, exchange="", routing_key=target.name, headers=headers,
            content_type=message.content_type, content_encoding=message.content_encoding,
            message_id=message.properties.get("message_id"), delivery_mode=2,
        )


event_handler = EventConsumer.decorator


def _dead_letters(amqp_uri, service_name, limit):
    """Up to ``limit`` messages of the service's dead-letter queue, unacked: a message
    the caller does not ack goes back to the queue, in order, when the connection closes."""
    _, _, dead_name = queue_names(service_name)
    with Connection(amqp_uri) as connection:
        queue = Queue(dead_name, durable=True)(connection.default_channel)
        queue.declare()
        for _ in range(limit):
            message = queue.get(no_ack=False, accept=["application/cloudevents+json", "json"])
            if message is None:
                return
            yield message


def peek_dead_letters(amqp_uri, service_name, limit=100):
    """The first ``limit`` dead letters, left in their queue: headers and event."""
    found = []
    for message in _dead_letters(amqp_uri, service_name, limit):
        headers = message.headers or {}
        found.append({"attempts": headers.get(ATTEMPTS_HEADER),
                      "error": headers.get(ERROR_HEADER),
                      "routing_key": headers.get(ROUTING_KEY_HEADER),
                      "event": message.decode()})
    return found


def replay_dead_letters(amqp_uri, service_name, limit=100):
    """Move up to ``limit`` dead letters back to the service's queue; returns how many."""
    main_name, _, _ = queue_names(service_name)
    publisher = Publisher(amqp_uri, use_confirms=True)
    moved = 0
    for message in _dead_letters(amqp_uri, service_name, limit):
        headers = {k: v for k, v in (message.headers or {}).items() if k != ATTEMPTS_HEADER}
        publisher.publish(message.body, exchange="", routing_key=main_name, headers=headers,
                          content_type=message.content_type,
                          content_encoding=message.content_encoding,
                          message_id=message.properties.get("message_id"), delivery_mode=2)
        message.ack()
        moved += 1
    return moved
