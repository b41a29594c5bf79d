"""What the queue service is wired to: nameko dependency providers and the adapters
around them (the store, the clock, the settings, the notify service, the outbox
relay). Everything framework-bound that ``service.py`` uses lives here.
"""

import logging

import eventlet
from nameko.extensions import DependencyProvider

from services.kernel.auth import warn_if_open
from services.kernel.config import setting
from services.kernel.events import utcnow
from services.kernel.infra.mongo import MongoDatabase
from services.kernel.infra.rpc import RpcClient
from services.queue.queries import Settings
from services.queue.repository import QueueRepository

log = logging.getLogger(__name__)

NOTIFY_TIMEOUT_SECONDS = 5  # a ticket is never held up by the messaging service


class QueueStore(MongoDatabase):
    RECOVERY = (("finish_pending_legs", "inserted %d transfer leg(s) interrupted by a crash"),
                ("finish_moves", "moved %d ended ticket(s) a crash left among the live ones"))

    def __init__(self):
        super().__init__(QueueRepository)

    def start(self):
        super().start()
        warn_if_open(self.container.config, self.container.service_name)

    def get_dependency(self, worker_ctx):
        return self.repository.for_request()  # its own record of what it wrote


class Clock(DependencyProvider):
    def get_dependency(self, worker_ctx):
        return utcnow


def settings_from(config):
    """The queue's :class:`Settings` from the service's config (or the environment)."""
    return Settings(  # the defaults are services/kernel/config.py's
        max_priority_streak=int(setting("MAX_PRIORITY_STREAK", config)),
        no_show_after_recalls=int(setting("NO_SHOW_AFTER_RECALLS", config)),
        default_site=setting("DEFAULT_SITE", config),
    )


class QueueSettings(DependencyProvider):
    """The queue's :class:`Settings`, read from the config once at setup."""

    def setup(self):
        self.settings = settings_from(self.container.config)

    def get_dependency(self, worker_ctx):
        return self.settings


class _Subscriptions:
    def __init__(self, rpc):
        self.rpc = rpc

    def subscribe(self, ticket, phone, lang, secret):
        """Subscribe a ticket's citizen to messages: ``{"phone": masked, "status":
        "subscribed"}``, or ``{"phone": None, "status": "unavailable"}`` when the notify
        service fails or is slow (the ticket stands; messages are missing)."""
        try:
            with eventlet.Timeout(NOTIFY_TIMEOUT_SECONDS):
                subscription = self.rpc.subscribe(ticket, phone, lang, secret)
            return {"phone": subscription["phone"], "status": "subscribed"}
        except (Exception, eventlet.Timeout) as exc:
            log.warning("messages unavailable for ticket %s: %s", ticket["ticket_id"],
                        type(exc).__name__)
            return {"phone": None, "status": "unavailable"}


class Notify(RpcClient):
    """Messages to citizens, through the notify service (which keeps the number)."""

    def __init__(self, **kwargs):
        super().__init__("notify", **kwargs)

    def get_dependency(self, worker_ctx):
        return _Subscriptions(super().get_dependency(worker_ctx))


def relay(repository, outbox):
    """Publish what this request wrote, from memory (no read-back), then take it out of
    the outbox; an ended ticket leaves the live collection with it."""
    try:
        for change in repository.written:
            outbox.publish(change.entries)
            repository.published(change)
    except Exception:  # the events stay in the outbox; the timer sweep retries them
        log.warning("relay failed; the outbox sweep will retry", exc_info=True)
    repository.written.clear()


def sweep(repository, outbox):
    """Finish what a crash interrupted, and publish what the outbox still holds."""
    repository.finish_pending_legs()
    for collection in repository.outbox_collections():
        outbox.sweep(collection)
    repository.finish_moves()


def pause():
    """Let other greenlets (requests) run."""
    eventlet.sleep(0)
