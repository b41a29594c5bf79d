"""The notify service: display boards, voice calls, citizen messages, agency webhooks.

Entrypoints stay thin; :class:`NotifyCommands` decides, the repository remembers.
"""

import html
import json
import logging
import re
import urllib.error
import urllib.request
from pathlib import Path

import eventlet
from nameko.dependency_providers import Config
from nameko.extensions import DependencyProvider
from werkzeug.wrappers import Response

from services.kernel.auth import require, require_admin, warn_if_open
from services.kernel.catalog import CatalogClient
from services.kernel.codes import is_code
from services.kernel.config import setting
from services.kernel.errors import Forbidden, NotFound
from services.kernel.events import utcnow
from services.kernel.infra.audit import audit
from services.kernel.infra.cache import CatalogCache
from services.kernel.infra.consumer import event_handler
from services.kernel.infra.health import HealthMixin
from services.kernel.infra.http import http, json_ready, query_params, read_json
from services.kernel.infra.mongo import MongoDatabase
from services.kernel.infra.rpc import RpcClient, rpc
from services.kernel.infra.timers import configured_timer
from services.notify import schemas
from services.notify.commands import NotifyCommands, Settings, public_webhook
from services.notify.crypto import Vault
from services.notify.providers import provider_from
from services.notify.repository import NotifyRepository

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
ASSETS = {"display.js": "text/javascript", "display.css": "text/css"}
STREAM_POLL_SECONDS = 0.25
KEEP_ALIVE_SECONDS = 15


class NotifyStore(MongoDatabase):
    def __init__(self):
        super().__init__(NotifyRepository)

    def start(self):
        warn_if_open(self.container.config, self.container.service_name)


class Secrets(DependencyProvider):
    """The vault (encryption at rest) and the message provider of this container."""

    def setup(self):
        config = self.container.config
        self.vault = Vault(setting("NOTIFY_SECRET_KEY", config))
        self.provider = provider_from(lambda name: setting(name, config))

    def get_dependency(self, worker_ctx):
        return self


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a redirect is an answer (3xx, a failure), never followed


_OPENER = urllib.request.build_opener(_NoRedirects)


def http_post(url, body, headers, timeout=10.0):
    """POST and answer the status code (an HTTP error status is an answer, not a raise).
    Redirects are not followed: register the final URL."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _settings(config):
    def number(name, default, cast=int):
        value = setting(name, config)
        return cast(value) if value not in (None, "") else default

    return Settings(
        near_ahead=number("NEAR_TICKETS_AHEAD", 3),
        public_base_url=setting("PUBLIC_BASE_URL", config) or "http://localhost:8080",
        message_attempts=number("MESSAGE_MAX_ATTEMPTS", 5),
        message_retry_seconds=number("MESSAGE_RETRY_SECONDS", 5.0, float),
        webhook_attempts=number("WEBHOOK_MAX_ATTEMPTS", 10),
        webhook_retry_seconds=number("WEBHOOK_RETRY_SECONDS", 10.0, float),
    )


def sse(announcement):
    return (f"id: {announcement['seq']}\nevent: announcement\n"
            f"data: {json.dumps(json_ready(announcement), ensure_ascii=False)}\n\n")


def announcement_stream(repository, site, after):
    """Server-Sent Events: every announcement after ``after``, then each new one."""
    last = after
    quiet = 0.0
    yield "retry: 3000\n\n"
    while True:
        items = repository.announcements_after(site, last)
        for item in items:
            last = item["seq"]
            yield sse(item)
        if items:
            quiet = 0.0
            continue
        eventlet.sleep(STREAM_POLL_SECONDS)
        quiet += STREAM_POLL_SECONDS
        if quiet >= KEEP_ALIVE_SECONDS:
            quiet = 0.0
            yield ": keep-alive\n\n"


class NotifyService(HealthMixin):
    name = "notify"

    repository = NotifyStore()
    secrets = Secrets()
    catalog_rpc = RpcClient("catalog")
    queue_rpc = RpcClient("queue")
    catalog_cache = CatalogCache()
    config = Config()

    @property
    def commands(self):
        return NotifyCommands(self.repository, self.secrets.vault,
                              CatalogClient(self.catalog_rpc, self.catalog_cache),
                              self.queue_rpc.positions, utcnow,
                              _settings(self.config))

    # -- events and timers ----------------------------------------------------------------

    @event_handler("#")
    def on_event(self, body):
        # The consumer has checked it against the published contract.
        self.commands.on_event(body)  # as published: agencies get the event unchanged

    @configured_timer("MESSAGE_SWEEP_SECONDS")
    def send_messages(self):
        self.commands.send_due_messages(self.secrets.provider)

    @configured_timer("WEBHOOK_SWEEP_SECONDS")
    def deliver_webhooks(self):
        self.commands.deliver_due(http_post)

    @configured_timer("FORGET_CHECK_SECONDS")
    def forget_past_days(self):
        removed = self.commands.forget_past_days()
        if removed:
            log.info("deleted the phone numbers of %d ticket(s) of past days", removed)

    # -- RPC ----------------------------------------------------------------------------

    @rpc
    def subscribe(self, ticket, phone, lang="id", secret=None):
        """Called by the queue when a ticket is issued with a phone number."""
        return self.commands.subscribe(ticket, phone, lang, secret)

    @rpc
    def recent(self, site, limit=10):
        return json_ready(self.repository.recent_announcements(site, limit))

    @rpc
    def messages_of(self, ticket_id):
        return json_ready(self.repository.messages_of(ticket_id))

    # -- HTTP: display boards -------------------------------------------------------------

    @http("GET", "/display/<site>")
    def http_display(self, request, site):
        query = schemas.DisplayQuerySchema().load(query_params(request))
        page = (STATIC / "display.html").read_text(encoding="utf-8")
        shown = site if is_code(site, max_length=16) else ""
        page = page.replace("{{SITE}}", html.escape(shown, quote=True))
        page = page.replace("{{LANG}}", query["lang"])
        return Response(page, mimetype="text/html")

    @http("GET", "/display/assets/<name>")
    def http_display_asset(self, request, name):
        if name not in ASSETS:
            raise NotFound(f"Berkas {name} tidak ada.", name=name)
        return Response((STATIC / name).read_bytes(), mimetype=ASSETS[name],
                        headers={"Cache-Control": "max-age=300"})

    @http("GET", "/api/notify/display/<site>/stream")
    def http_stream(self, request, site):
        query = schemas.StreamQuerySchema().load(query_params(request))
        latest = self.repository.recent_announcements(site, 1)
        newest = latest[0]["seq"] if latest else 0
        resume = request.headers.get("Last-Event-ID")
        if resume is not None and re.fullmatch(r"[0-9]{1,15}", resume):
            after = int(resume)
        elif query["after"] is not None:
            after = query["after"]
        else:
            after = newest  # a new board: from now on (it reads /recent for the past)
        # An id beyond ours means our numbering started again (an in-memory store that
        # restarted): carry on from now rather than wait for the old number.
        after = min(after, newest)
        # eventlet's server holds back writes under 4 KiB unless told otherwise.
        request.environ["eventlet.minimum_write_chunk_size"] = 0
        return Response(announcement_stream(self.repository, site, after),
                        mimetype="text/event-stream", direct_passthrough=True,
                        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @http("GET", "/api/notify/display/<site>/recent")
    def http_recent(self, request, site):
        query = schemas.RecentQuerySchema().load(query_params(request))
        return {"items": self.recent(site, query["limit"])}

    # -- HTTP: webhooks (admin) -----------------------------------------------------------

    # An agency admin manages its own agency's webhooks; "*" (every agency) is the MPP's.

    def _own_webhook(self, principal, webhook_id):
        record = self.repository.webhook(webhook_id)
        if record is None:
            raise NotFound(f"Tidak ada webhook dengan id {webhook_id}.", webhook_id=webhook_id)
        if not principal.in_agency(record["agency"]):
            raise Forbidden("Webhook ini milik instansi lain.", agency=record["agency"])
        return record

    @http("POST", "/api/notify/webhooks")
    def http_register_webhook(self, request):
        principal = require(request, self.config, "agency_admin")
        body = schemas.WebhookSchema().load(read_json(request))
        if not principal.in_agency(body["agency"]):
            raise Forbidden("Admin instansi hanya dapat mendaftarkan webhook instansinya.",
                            agency=body["agency"])
        webhook = self.commands.register_webhook(**body)
        audit(self.repository.db.audit, principal, "webhook_created",
              {"kind": "webhook", "code": webhook["webhook_id"]},
              after={k: v for k, v in webhook.items() if k != "secret"})
        return 201, json_ready(webhook)

    @http("GET", "/api/notify/webhooks")
    def http_webhooks(self, request):
        principal = require(request, self.config, "agency_admin")
        query = schemas.WebhookListQuerySchema().load(query_params(request))
        agency = query["agency"] if principal.is_admin else principal.agency
        items = [public_webhook(w) for w in self.repository.list_webhooks(agency)]
        return {"items": json_ready(items), "total": len(items)}

    @http("POST", "/api/notify/webhooks/<webhook_id>/<any(activate,deactivate):action>")
    def http_webhook_active(self, request, webhook_id, action):
        principal = require(request, self.config, "agency_admin")
        before = public_webhook(self._own_webhook(principal, webhook_id))
        record = public_webhook(self.repository.set_webhook_active(webhook_id,
                                                                   action == "activate"))
        audit(self.repository.db.audit, principal, f"webhook_{action}d",
              {"kind": "webhook", "code": webhook_id}, before, record)
        return json_ready(record)

    @http("GET", "/api/notify/webhooks/<webhook_id>/deliveries")
    def http_deliveries(self, request, webhook_id):
        principal = require(request, self.config, "agency_admin")
        query = schemas.DeliveryQuerySchema().load(query_params(request))
        self._own_webhook(principal, webhook_id)
        items = self.repository.list_deliveries(webhook_id, query["status"], query["limit"])
        return {"items": json_ready(items), "total": len(items)}

    @http("POST", "/api/notify/deliveries/<delivery_id>/redeliver")
    def http_redeliver(self, request, delivery_id):
        principal = require(request, self.config, "agency_admin")
        self._own_webhook(principal, delivery_id.split(":")[0])
        delivery = self.commands.redeliver(delivery_id)
        audit(self.repository.db.audit, principal, "delivery_redelivered",
              {"kind": "delivery", "code": delivery_id})
        return json_ready(delivery)

    @http("GET", "/api/notify/audit")
    def http_audit(self, request):
        require_admin(request, self.config)
        items = list(self.repository.db.audit.find({}, {"_id": 0}).sort("at", -1).limit(100))
        return {"items": json_ready(items), "total": len(items)}

    @http("GET", "/api/notify/tickets/<ticket_id>/messages")
    def http_messages(self, request, ticket_id):
        require_admin(request, self.config)
        items = self.messages_of(ticket_id)
        return {"items": items, "total": len(items)}
