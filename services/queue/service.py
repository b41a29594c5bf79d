"""The queue service: tickets, counters and the ticket lifecycle.

Entrypoints stay thin: parse the boundary, call :class:`QueueCommands`, relay the
events the write produced, answer JSON.
"""

import io
import logging
from pathlib import Path

import eventlet
import segno
from nameko.dependency_providers import Config
from nameko.extensions import DependencyProvider
from werkzeug.wrappers import Response

from services.kernel import hours
from services.kernel.auth import authenticate, require, warn_if_open
from services.kernel.catalog import CatalogClient
from services.kernel.config import flag, setting
from services.kernel.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from services.kernel.events import utcnow
from services.kernel.infra.cache import CatalogCache
from services.kernel.infra.health import HealthMixin
from services.kernel.infra.http import http, json_ready, query_params, read_json
from services.kernel.infra.mongo import MongoDatabase
from services.kernel.infra.outbox import Outbox, sweep_timer
from services.kernel.infra.pages import asset, page
from services.kernel.infra.rpc import RpcClient, rpc
from services.kernel.infra.timers import configured_timer
from services.kernel.tokens import STAFF
from services.queue import schemas
from services.queue.commands import PRIVATE, QueueCommands, Settings
from services.queue.repository import QueueRepository

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"

NOTIFY_TIMEOUT_SECONDS = 5  # a ticket is never held up by the messaging service


class QueueStore(MongoDatabase):
    def __init__(self):
        super().__init__(QueueRepository)

    def start(self):
        finished = self.repository.finish_pending_legs()
        if finished:
            log.warning("inserted %d transfer leg(s) interrupted by a crash", finished)
        moved = self.repository.finish_moves()
        if moved:
            log.info("moved %d ended ticket(s) a crash left among the live ones", moved)
        warn_if_open(self.container.config, self.container.service_name)

    def get_dependency(self, worker_ctx):
        return self.repository.for_request()  # its own record of what it wrote


class Clock(DependencyProvider):
    def get_dependency(self, worker_ctx):
        return utcnow


def _settings(config):
    def number(name, default):
        value = setting(name, config)
        return int(value) if value not in (None, "") else default

    return Settings(
        max_priority_streak=number("MAX_PRIORITY_STREAK", 2),
        no_show_after_recalls=number("NO_SHOW_AFTER_RECALLS", 2),
        default_site=setting("DEFAULT_SITE", config),
    )


def _secret(request):
    """The ticket's secret, from a header only: a URL would leave it in access logs."""
    return request.headers.get("X-Ticket-Secret")


class QueueService(HealthMixin):
    name = "queue"

    repository = QueueStore()
    outbox = Outbox()
    catalog_rpc = RpcClient("catalog")
    notify_rpc = RpcClient("notify")
    catalog_cache = CatalogCache()
    clock = Clock()
    config = Config()

    @property
    def commands(self):
        return QueueCommands(self.repository, CatalogClient(self.catalog_rpc, self.catalog_cache),
                             self.clock, _settings(self.config))

    def _relay(self):
        """Publish what this request wrote, from memory (no read-back), then take it out
        of the outbox; an ended ticket leaves the live collection with it."""
        try:
            for change in self.repository.written:
                self.outbox.publish(change.entries)
                self.repository.published(change)
        except Exception:  # the events stay in the outbox; the timer sweep retries them
            log.warning("relay failed; the outbox sweep will retry", exc_info=True)
        self.repository.written.clear()

    @sweep_timer
    def sweep_outbox(self):
        self.repository.finish_pending_legs()
        for collection in self.repository.outbox_collections():
            self.outbox.sweep(collection)
        self.repository.finish_moves()

    @configured_timer("PAST_DAYS_CHECK_SECONDS")
    def close_past_days(self):
        closed = self.commands.close_past_days()
        self._relay()
        if closed:
            log.info("closed %d ticket(s) left waiting from earlier days", closed)

    @configured_timer("WAITING_RECOUNT_SECONDS")
    def recount_waiting(self):
        fixed = 0
        for site, local_day in self.repository.live_waiting_days():
            fixed += self.repository.recount_waiting(site, local_day)
            eventlet.sleep(0)  # one day at a time: requests go on between them
        if fixed:
            log.info("corrected the waiting count of %d service day(s)", fixed)

    # -- RPC ----------------------------------------------------------------------------

    @rpc
    def issue_ticket(self, service, channel="kiosk", priority=None, site=None, phone=None,
                     lang="id"):
        """Issue a ticket; with a ``phone``, the citizen also gets messages (notify keeps
        the number; the answer shows it masked)."""
        request = schemas.IssueTicketSchema().load(
            {"service": service, "channel": channel, "priority": priority, "site": site,
             "phone": phone, "lang": lang})
        ticket, secret = self.commands.issue(request["service"], request["channel"],
                                             request["priority"], request["site"])
        self._relay()
        answer = json_ready({**ticket, "secret": secret})
        if request["phone"]:
            answer["messages"] = self._subscribe(answer, request["phone"], request["lang"], secret)
        return answer

    def _subscribe(self, ticket, phone, lang, secret):
        try:
            with eventlet.Timeout(NOTIFY_TIMEOUT_SECONDS):
                subscription = self.notify_rpc.subscribe(ticket, phone, lang, secret)
            return {"phone": subscription["phone"], "status": "subscribed"}
        except (Exception, eventlet.Timeout) as exc:  # the ticket stands; messages are missing
            log.warning("messages unavailable for ticket %s: %s", ticket["ticket_id"],
                        type(exc).__name__)
            return {"phone": None, "status": "unavailable"}

    @rpc
    def get_ticket(self, ticket_id):
        return json_ready(self.commands.view(ticket_id))

    @rpc
    def positions(self, ticket_ids):
        """Where each of these tickets stands (1 = next; None when not waiting): what
        notify asks once per event that moves a line, for every ticket it watches."""
        request = schemas.PositionsSchema().load({"ticket_ids": ticket_ids})
        return self.commands.positions(request["ticket_ids"])

    @rpc
    def open_counter(self, counter):
        state = self.commands.open_counter(counter)
        self._relay()
        return json_ready(_counter_view(state))

    @rpc
    def pause_counter(self, counter, reason):
        request = schemas.PauseSchema().load({"reason": reason})
        state = self.commands.pause_counter(counter, request["reason"])
        self._relay()
        return json_ready(_counter_view(state))

    @rpc
    def close_counter(self, counter):
        state, returned = self.commands.close_counter(counter)
        self._relay()
        return json_ready({**_counter_view(state),
                           "returned_ticket": returned["_id"] if returned else None})

    @rpc
    def call_next(self, counter):
        ticket = self.commands.call_next(counter)
        if ticket is None:
            return None
        self._relay()
        return json_ready(QueueCommands.public(ticket))  # as written: no read-back

    @rpc
    def act(self, ticket_id, action, counter):
        """``action`` is one of recall, start, complete, no_show, done by ``counter``."""
        handlers = {"recall": self.commands.recall, "start": self.commands.start,
                    "complete": self.commands.complete, "no_show": self.commands.no_show}
        if action not in handlers:
            raise InvalidInput({"action": [f"Harus salah satu dari: {', '.join(handlers)}."]})
        schemas.CounterActionSchema().load({"counter": counter})
        ticket = handlers[action](ticket_id, counter)
        self._relay()
        return json_ready(QueueCommands.public(ticket))  # as written: no read-back

    @rpc
    def transfer(self, ticket_id, counter, service):
        schemas.TransferSchema().load({"counter": counter, "service": service})
        leg = self.commands.transfer(ticket_id, counter, service)
        self._relay()
        return json_ready(leg)

    @rpc
    def cancel(self, ticket_id, by="operator", reason=None):
        schemas.CancelSchema().load({"reason": reason})
        ticket = self.commands.cancel(ticket_id, by, reason)
        self._relay()
        return json_ready(QueueCommands.public(ticket))  # as written: no read-back

    @rpc
    def submit_feedback(self, ticket_id, scores, comment=None):
        request = schemas.FeedbackSchema().load({"scores": scores, "comment": comment})
        record = self.commands.feedback(ticket_id, request["scores"], request["comment"])
        self._relay()
        return json_ready(record)

    @rpc
    def overview(self, site=None):
        return json_ready(self.commands.overview(site))

    @rpc
    def kiosk(self, site):
        catalog = CatalogClient(self.catalog_rpc, self.catalog_cache)
        record = catalog.site(site)
        overview = {s["service"]: s for s in self.commands.overview(site)["services"]}
        agencies = catalog.agencies()
        by_agency = {}
        for service in catalog.services_of_site(site):
            live = overview.get(service["code"], {})
            by_agency.setdefault(service["agency"], []).append({
                **{k: service.get(k) for k in (
                    "code", "name", "ticket_prefix", "requirements", "procedure",
                    "completion_time", "fee", "product", "legal_basis", "complaint_channel",
                    "daily_quota")},
                **{k: live.get(k) for k in ("waiting", "estimated_wait_minutes",
                                            "open_counters", "issued_today")},
            })
        state = hours.status(record, utcnow())
        return json_ready({
            "site": {"code": record["code"], "name": record["name"], "open": state.open,
                     "next_open": state.next_open.isoformat() if state.next_open else None,
                     "reason": state.reason,
                     "label": state.label},
            "agencies": [{"code": a["code"], "name": a["name"], "kind": a["kind"],
                          "services": sorted(by_agency[a["code"]], key=lambda s: s["name"])}
                         for a in agencies if a["code"] in by_agency],
        })

    @rpc
    def counter_status(self, counter):
        commands = self.commands
        state = commands.counter_state_or_closed(counter)
        active = self.repository.active_ticket_of(counter)
        return json_ready({**_counter_view(state),
                           "ticket": commands.view(active["_id"]) if active else None})

    # -- HTTP ---------------------------------------------------------------------------
    #
    # Kiosks (their site only), operators, admins, and, when ALLOW_PUBLIC_ISSUING is on,
    # anyone through the web channel issue tickets. Operators act only at their own
    # counters; a ticket is read or cancelled with its secret or by its agency's staff.

    @http("POST", "/api/queue/tickets")
    def http_issue(self, request):
        principal = authenticate(request, self.config)
        body = schemas.IssueTicketSchema().load(read_json(request))
        if principal is None:
            if not flag(setting("ALLOW_PUBLIC_ISSUING", self.config)):
                raise Unauthorized("Ambil nomor antrean melalui anjungan (kiosk) MPP.")
            body["channel"] = "web"
        elif principal.role == "kiosk":
            if body["site"] not in (None, principal.site):
                raise Forbidden(f"Anjungan ini milik MPP {principal.site}.", site=principal.site)
            body["site"] = principal.site
            body["channel"] = "kiosk"
        elif principal.role != "operator" and not principal.is_admin:
            raise Forbidden(f"Peran {principal.role} tidak boleh mengambil nomor antrean.",
                            role=principal.role)
        ticket = self.issue_ticket(**body)
        ticket["status_url"] = f"/api/queue/tickets/{ticket['ticket_id']}"
        return 201, ticket

    @http("GET", "/api/queue/tickets")
    def http_list_tickets(self, request):
        principal = require(request, self.config, *STAFF)
        query = schemas.TicketListQuerySchema().load(query_params(request))
        mongo_query = {k: query[k] for k in ("site", "service", "counter", "status") if query[k]}
        if not principal.is_admin:
            mongo_query["agency"] = principal.agency  # staff see their own agency only
        if query["day"]:
            mongo_query["local_day"] = query["day"].isoformat()
        items, total = self.repository.list_tickets(mongo_query, query["limit"], query["offset"])
        items = [{"ticket_id": item["_id"], **{k: v for k, v in item.items() if k not in PRIVATE}}
                 for item in items]
        return {"items": json_ready(items), "total": total}

    @http("GET", "/api/queue/tickets/<ticket_id>")
    def http_get_ticket(self, request, ticket_id):
        self._citizen_or_staff(request, ticket_id)
        return self.get_ticket(ticket_id)

    @http("POST", "/api/queue/tickets/<ticket_id>/cancel")
    def http_cancel(self, request, ticket_id):
        by = self._citizen_or_staff(request, ticket_id)
        body = schemas.CancelSchema().load(read_json(request, required=False))
        return self.cancel(ticket_id, by=by, reason=body["reason"])

    @http("POST", "/api/queue/tickets/<ticket_id>/feedback")
    def http_feedback(self, request, ticket_id):
        self.commands.check_secret(ticket_id, _secret(request))
        body = schemas.FeedbackSchema().load(read_json(request))
        return 201, self.submit_feedback(ticket_id, body["scores"], body["comment"])

    @http("POST", '/api/queue/tickets/<ticket_id>/<any(recall,start,complete,"no-show"):action>')
    def http_act(self, request, ticket_id, action):
        principal = require(request, self.config, "operator")
        body = schemas.CounterActionSchema().load(read_json(request))
        self._at_own_counter(principal, body["counter"])
        return self.act(ticket_id, action.replace("-", "_"), body["counter"])

    @http("POST", "/api/queue/tickets/<ticket_id>/transfer")
    def http_transfer(self, request, ticket_id):
        principal = require(request, self.config, "operator")
        body = schemas.TransferSchema().load(read_json(request))
        self._at_own_counter(principal, body["counter"])
        return 201, self.transfer(ticket_id, body["counter"], body["service"])

    @http("POST", "/api/queue/counters/<counter>/<any(open,close):action>")
    def http_counter_open_close(self, request, counter, action):
        self._at_own_counter(require(request, self.config, "operator"), counter)
        read_json(request, required=False)
        return (self.open_counter if action == "open" else self.close_counter)(counter)

    @http("POST", "/api/queue/counters/<counter>/pause")
    def http_counter_pause(self, request, counter):
        self._at_own_counter(require(request, self.config, "operator"), counter)
        body = schemas.PauseSchema().load(read_json(request))
        return self.pause_counter(counter, body["reason"])

    @http("POST", "/api/queue/counters/<counter>/call-next")
    def http_call_next(self, request, counter):
        self._at_own_counter(require(request, self.config, "operator"), counter)
        ticket = self.call_next(counter)
        return {"ticket": ticket, "message": None if ticket else "Tidak ada antrean menunggu."}

    @http("GET", "/api/queue/counters/<counter>")
    def http_counter_status(self, request, counter):
        self._at_own_counter(require(request, self.config, "operator"), counter)
        return self.counter_status(counter)

    @http("GET", "/api/queue/overview")
    def http_overview(self, request):
        query = schemas.OverviewQuerySchema().load(query_params(request))
        return self.overview(query["site"])

    @http("GET", "/api/queue/kiosk/<site>")
    def http_kiosk(self, request, site):
        """What a kiosk shows: the site, its agencies and their active services with the
        published standard (requirements, fee, completion time) and the live queue."""
        return self.kiosk(site)

    @http("POST", "/api/queue/qr")
    def http_qr(self, request):
        """A QR code (SVG) of a short text, e.g. a ticket's status link with its secret in
        the fragment; POSTed so that the secret never appears in a URL or a log."""
        body = schemas.QrSchema().load(read_json(request))
        svg = io.BytesIO()
        segno.make(body["text"], error="m").save(svg, kind="svg", scale=8, border=2,
                                                 xmldecl=False, svgns=True)
        return Response(svg.getvalue(), mimetype="image/svg+xml",
                        headers={"Cache-Control": "no-store"})

    # -- pages (Bahasa Indonesia; served with everything they need) ----------------------

    @http("GET", "/kiosk/<site>")
    def page_kiosk(self, request, site):
        return page(STATIC, "kiosk.html", self.config, SITE=site)

    @http("GET", "/tiket/<ticket_id>")
    def page_ticket(self, request, ticket_id):
        return page(STATIC, "ticket.html", self.config, TICKET_ID=ticket_id)

    @http("GET", "/counter")
    def page_counter(self, request):
        return page(STATIC, "counter.html", self.config,
                    SITE=setting("DEFAULT_SITE", self.config))

    @http("GET", "/ui/<name>")
    def page_asset(self, request, name):
        return asset(STATIC, name)

    @staticmethod
    def _at_own_counter(principal, counter):
        if not principal.may_use_counter(counter):
            raise Forbidden(f"Akun ini tidak bertugas di loket {counter}.", counter=counter)

    def _citizen_or_staff(self, request, ticket_id):
        """"citizen" with the ticket's secret; "operator" for its agency's staff."""
        secret = _secret(request)
        if secret:
            self.commands.check_secret(ticket_id, secret)
            return "citizen"
        principal = require(request, self.config, *STAFF)
        ticket = self.repository.ticket(ticket_id)
        if ticket is None:
            raise NotFound(f"Tiket {ticket_id} tidak ditemukan.", ticket_id=ticket_id)
        if not principal.in_agency(ticket["agency"]):
            raise Forbidden("Tiket ini milik instansi lain.", agency=ticket["agency"])
        return "operator"


def _counter_view(state):
    return {"counter": state["_id"], "site": state["site"], "agency": state["agency"],
            "services": state["services"], "state": state["state"],
            "reason": state.get("reason"), "since": state.get("since")}
