"""The notify service: display boards, voice calls, citizen messages, agency webhooks.

Entrypoints only: each parses its input, calls one use case (:mod:`.commands`) or read
view (:mod:`.queries`) and answers; what they are wired to is in :mod:`.dependencies`.
"""

import logging

from werkzeug.wrappers import Response

from services.kernel.events import utcnow
from services.kernel.infra.base import AntreService
from services.kernel.infra.catalog import Catalog
from services.kernel.infra.consumer import event_handler
from services.kernel.infra.http import http, json_ready, query_params, read_json
from services.kernel.infra.rpc import RpcClient, rpc
from services.kernel.infra.timers import configured_timer
from services.notify import schemas
from services.notify.commands import NotifyCommands
from services.notify.dependencies import (
    NotifyStore,
    Secrets,
    announcement_stream,
    display_asset,
    display_page,
    settings_from,
    webhook_post,
)
from services.notify.domain import shown_site
from services.notify.queries import NotifyQueries

log = logging.getLogger(__name__)


class NotifyService(AntreService):
    name = "notify"

    repository = NotifyStore()
    secrets = Secrets()
    catalog = Catalog()
    queue_rpc = RpcClient("queue")

    @property
    def commands(self):
        return NotifyCommands(self.repository, self.secrets.vault,
                              self.catalog,
                              self.queue_rpc.positions, utcnow, settings_from(self.config))

    @property
    def queries(self):
        return NotifyQueries(self.repository)

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
        self.commands.deliver_due(webhook_post(self.config))

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
        return json_ready(self.queries.recent(site, limit))

    @rpc
    def messages_of(self, ticket_id):
        return json_ready(self.queries.messages_of(ticket_id))

    # -- HTTP: display boards -------------------------------------------------------------

    @http("GET", "/display/<site>")
    def http_display(self, request, site):
        query = schemas.DisplayQuerySchema().load(query_params(request))
        return display_page(self.config, shown_site(site), query["lang"])

    @http("GET", "/display/assets/<name>")
    def http_display_asset(self, request, name):
        return display_asset(name)

    @http("GET", "/api/notify/display/<site>/stream")
    def http_stream(self, request, site):
        query = schemas.StreamQuerySchema().load(query_params(request))
        after = self.queries.stream_start(site, request.headers.get("Last-Event-ID"),
                                          query["after"])
        # eventlet's server holds back writes under 4 KiB unless told otherwise.
        request.environ["eventlet.minimum_write_chunk_size"] = 0
        return Response(announcement_stream(self.queries, site, after),
                        mimetype="text/event-stream", direct_passthrough=True,
                        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @http("GET", "/api/notify/display/<site>/recent")
    def http_recent(self, request, site):
        query = schemas.RecentQuerySchema().load(query_params(request))
        return {"items": json_ready(self.queries.recent(site, query["limit"]))}

    # -- HTTP: webhooks (admin) -----------------------------------------------------------

    # An agency admin manages its own agency's webhooks; "*" (every agency) is the MPP's.

    @http("POST", "/api/notify/webhooks")
    def http_register_webhook(self, request):
        principal = self.require(request, "agency_admin")
        body = schemas.WebhookSchema().load(read_json(request))
        return 201, json_ready(self.commands.register_webhook(**body, by=principal))

    @http("GET", "/api/notify/webhooks")
    def http_webhooks(self, request):
        principal = self.require(request, "agency_admin")
        query = schemas.WebhookListQuerySchema().load(query_params(request))
        items = self.queries.webhooks(principal, query["agency"])
        return {"items": json_ready(items), "total": len(items)}

    @http("POST", "/api/notify/webhooks/<webhook_id>/<any(activate,deactivate):action>")
    def http_webhook_active(self, request, webhook_id, action):
        principal = self.require(request, "agency_admin")
        return json_ready(self.commands.set_webhook_active(webhook_id, action == "activate",
                                                           principal))

    @http("GET", "/api/notify/webhooks/<webhook_id>/deliveries")
    def http_deliveries(self, request, webhook_id):
        principal = self.require(request, "agency_admin")
        query = schemas.DeliveryQuerySchema().load(query_params(request))
        items = self.queries.deliveries(principal, webhook_id, query["status"], query["limit"])
        return {"items": json_ready(items), "total": len(items)}

    @http("POST", "/api/notify/deliveries/<delivery_id>/redeliver")
    def http_redeliver(self, request, delivery_id):
        principal = self.require(request, "agency_admin")
        return json_ready(self.commands.redeliver(delivery_id, by=principal))

    @http("GET", "/api/notify/audit")
    def http_audit(self, request):
        self.require(request)
        items = self.queries.audit()
        return {"items": json_ready(items), "total": len(items)}

    @http("GET", "/api/notify/tickets/<ticket_id>/messages")
    def http_messages(self, request, ticket_id):
        self.require(request)
        items = json_ready(self.queries.messages_of(ticket_id))
        return {"items": items, "total": len(items)}
