"""The queue service: tickets, counters and the ticket lifecycle.

Entrypoints only: each parses its input (``schemas``), calls one use case (a write of
:class:`QueueCommands`, a read of :class:`QueueQueries`), relays the events a write
produced, and answers JSON. What they are wired to is in ``dependencies.py``.
"""

import io
import logging
from pathlib import Path

import segno
from werkzeug.wrappers import Response

from services.kernel.config import flag, setting
from services.kernel.errors import AntreError, Forbidden, InvalidInput, Unauthorized
from services.kernel.infra.base import AntreService
from services.kernel.infra.catalog import Catalog
from services.kernel.infra.http import http, json_ready, query_params, read_json
from services.kernel.infra.outbox import Outbox, sweep_timer
from services.kernel.infra.pages import asset, page
from services.kernel.infra.rpc import rpc
from services.kernel.infra.timers import configured_timer
from services.kernel.ratelimit import client_of
from services.kernel.tokens import STAFF
from services.queue import domain, messages, schemas
from services.queue.commands import ACTIONS, QueueCommands
from services.queue.dependencies import (
    Clock,
    Notify,
    QueueSettings,
    QueueStore,
    pause,
    relay,
    sweep,
)
from services.queue.limits import WebLimits, admit_web_request, give_back
from services.queue.queries import QueueQueries, counter_view, public

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"


def _secret(request):
    """The ticket's secret, from a header only: a URL would leave it in access logs."""
    return request.headers.get("X-Ticket-Secret")


class QueueService(AntreService):
    name = "queue"

    repository = QueueStore()
    outbox = Outbox()
    catalog = Catalog()
    notify = Notify()
    clock = Clock()
    settings = QueueSettings()

    @property
    def commands(self):
        return QueueCommands(self.repository, self.catalog, self.clock, self.settings)

    @property
    def queries(self):
        return QueueQueries(self.repository, self.catalog, self.clock, self.settings)

    def _written(self, answer):
        """Relay the events this request wrote, then answer what it wrote."""
        relay(self.repository, self.outbox)
        return json_ready(answer)

    @sweep_timer
    def sweep_outbox(self):
        sweep(self.repository, self.outbox)

    @configured_timer("PAST_DAYS_CHECK_SECONDS")
    def close_past_days(self):
        closed = self.commands.close_past_days()
        relay(self.repository, self.outbox)
        if closed:
            log.info("closed %d ticket(s) left waiting from earlier days", closed)

    @configured_timer("WAITING_RECOUNT_SECONDS")
    def recount_waiting(self):
        fixed = self.commands.recount_waiting(pause)
        if fixed:
            log.info("corrected the waiting count of %d service day(s)", fixed)

    # -- RPC ----------------------------------------------------------------------------

    @rpc
    def issue_ticket(self, service, channel="kiosk", priority=None, site=None, phone=None,
                     lang="id", appointment=None):
        """Issue a ticket; with a ``phone``, the citizen also gets messages (notify keeps
        the number; the answer shows it masked). The booking service checks a citizen
        in with channel ``appointment`` and ``appointment={"booking": code,
        "slot_start": ISO 8601 with offset}`` (only here: HTTP refuses appointments)."""
        return self._issue(schemas.RpcIssueTicketSchema().load(
            {"service": service, "channel": channel, "priority": priority, "site": site,
             "phone": phone, "lang": lang, "appointment": appointment}))

    def _issue(self, request):
        ticket, secret = self.commands.issue(request["service"], request["channel"],
                                             request["priority"], request["site"],
                                             appointment=request.get("appointment"))
        answer = self._written({**ticket, "secret": secret})
        if request["phone"]:
            answer["messages"] = self.notify.subscribe(answer, request["phone"],
                                                       request["lang"], secret)
        return answer

    @rpc
    def get_ticket(self, ticket_id):
        return json_ready(self.queries.view(ticket_id))

    @rpc
    def positions(self, ticket_ids):
        """Where each of these tickets stands (1 = next; None when not waiting): what
        notify asks once per event that moves a line, for every ticket it watches."""
        request = schemas.PositionsSchema().load({"ticket_ids": ticket_ids})
        return self.queries.positions(request["ticket_ids"])

    @rpc
    def open_counter(self, counter):
        return self._written(counter_view(self.commands.open_counter(counter)))

    @rpc
    def pause_counter(self, counter, reason):
        request = schemas.PauseSchema().load({"reason": reason})
        return self._written(counter_view(self.commands.pause_counter(counter,
                                                                      request["reason"])))

    @rpc
    def close_counter(self, counter):
        return self._closed(self.commands.close_counter(counter))

    def _closed(self, closed):
        state, returned = closed
        return self._written({**counter_view(state),
                              "returned_ticket": returned["_id"] if returned else None})

    @rpc
    def call_next(self, counter):
        return self._called(self.commands.call_next(counter))

    def _called(self, ticket):
        """The ticket called, as written (no read-back); None when nobody waits."""
        return None if ticket is None else self._written(public(ticket))

    @rpc
    def act(self, ticket_id, action, counter):
        """``action`` is one of recall, start, complete, no_show, done by ``counter``."""
        if action not in ACTIONS:
            raise InvalidInput({"action": [f"Harus salah satu dari: {', '.join(ACTIONS)}."]})
        schemas.CounterActionSchema().load({"counter": counter})
        return self._written(public(self.commands.act(ticket_id, action, counter)))

    @rpc
    def transfer(self, ticket_id, counter, service):
        schemas.TransferSchema().load({"counter": counter, "service": service})
        return self._written(self.commands.transfer(ticket_id, counter, service))

    @rpc
    def cancel(self, ticket_id, by="operator", reason=None):
        schemas.CancelSchema().load({"reason": reason})
        return self._written(public(self.commands.cancel(ticket_id, by, reason)))

    @rpc
    def submit_feedback(self, ticket_id, scores, comment=None):
        request = schemas.FeedbackSchema().load({"scores": scores, "comment": comment})
        return self._written(self.commands.feedback(ticket_id, request["scores"],
                                                    request["comment"]))

    @rpc
    def overview(self, site=None):
        return json_ready(self.queries.overview(site))

    @rpc
    def kiosk(self, site):
        return json_ready(self.queries.kiosk(site))

    @rpc
    def counter_status(self, counter):
        return json_ready(self.queries.counter_status(counter))

    # -- HTTP ---------------------------------------------------------------------------
    #
    # Kiosks (their site only), operators, admins, and, when ALLOW_PUBLIC_ISSUING is on,
    # anyone through the web channel issue tickets. Operators act only at their own
    # counters, while the catalog has them in their agency; a ticket is read or cancelled
    # with its secret or by its agency's staff.

    @http("POST", "/api/queue/tickets")
    def http_issue(self, request):
        principal, counted = self.authenticate(request), []
        raw = read_json(request)
        if isinstance(raw, dict) and "appointment" in raw:
            # Only the booking service, over RPC, checks in a booked slot: nobody over
            # HTTP (web, kiosk, operator, admin) may claim one.
            raise InvalidInput({"appointment": [messages.APPOINTMENT_RPC_ONLY]})
        body = schemas.IssueTicketSchema().load(raw)
        if principal is None:
            if not flag(setting("ALLOW_PUBLIC_ISSUING", self.config)):
                raise Unauthorized("Ambil nomor antrean melalui anjungan (kiosk) MPP.")
            body["channel"] = "web"
            counted = admit_web_request(self.repository, WebLimits.from_config(self.config),
                                        self.clock().timestamp(),
                                        client_of(request, self.config), body["service"],
                                        body["priority"])
        elif principal.role == "kiosk":
            if body["site"] not in (None, principal.site):
                raise Forbidden(f"Anjungan ini milik MPP {principal.site}.", site=principal.site)
            body["site"] = principal.site
            body["channel"] = "kiosk"
        elif principal.role != "operator" and not principal.is_admin:
            raise Forbidden(f"Peran {principal.role} tidak boleh mengambil nomor antrean.",
                            role=principal.role)
        try:
            ticket = self._issue(body)
        except AntreError:
            give_back(self.repository, counted)  # refused: a refusal writes nothing
            raise
        ticket["status_url"] = f"/api/queue/tickets/{ticket['ticket_id']}"
        return 201, ticket

    @http("GET", "/api/queue/tickets")
    def http_list_tickets(self, request):
        principal = self.require(request, *STAFF)
        query = schemas.TicketListQuerySchema().load(query_params(request))
        items, total = self.queries.list_tickets(
            query, agency=None if principal.is_admin else principal.agency)
        return {"items": json_ready(items), "total": total}

    @http("GET", "/api/queue/tickets/<ticket_id>")
    def http_get_ticket(self, request, ticket_id):
        self._citizen_or_staff(request, ticket_id)
        return json_ready(self.queries.view(ticket_id))

    @http("POST", "/api/queue/tickets/<ticket_id>/cancel")
    def http_cancel(self, request, ticket_id):
        by = self._citizen_or_staff(request, ticket_id)
        body = schemas.CancelSchema().load(read_json(request, required=False))
        return self._written(public(self.commands.cancel(ticket_id, by, body["reason"])))

    @http("POST", "/api/queue/tickets/<ticket_id>/feedback")
    def http_feedback(self, request, ticket_id):
        self.queries.check_secret(ticket_id, _secret(request))
        body = schemas.FeedbackSchema().load(read_json(request))
        return 201, self._written(self.commands.feedback(ticket_id, body["scores"],
                                                         body["comment"]))

    @http("POST", '/api/queue/tickets/<ticket_id>/<any(recall,start,complete,"no-show"):action>')
    def http_act(self, request, ticket_id, action):
        principal = self.require(request, "operator")
        body = schemas.CounterActionSchema().load(read_json(request))
        self._at_own_counter(principal, body["counter"])
        return self._written(public(self.commands.act(ticket_id, action.replace("-", "_"),
                                                      body["counter"])))

    @http("POST", "/api/queue/tickets/<ticket_id>/transfer")
    def http_transfer(self, request, ticket_id):
        principal = self.require(request, "operator")
        body = schemas.TransferSchema().load(read_json(request))
        self._at_own_counter(principal, body["counter"])
        return 201, self._written(self.commands.transfer(ticket_id, body["counter"],
                                                         body["service"]))

    @http("POST", "/api/queue/counters/<counter>/<any(open,close):action>")
    def http_counter_open_close(self, request, counter, action):
        self._at_own_counter(self.require(request, "operator"), counter)
        read_json(request, required=False)
        if action == "open":
            return self._written(counter_view(self.commands.open_counter(counter)))
        return self._closed(self.commands.close_counter(counter))

    @http("POST", "/api/queue/counters/<counter>/pause")
    def http_counter_pause(self, request, counter):
        self._at_own_counter(self.require(request, "operator"), counter)
        body = schemas.PauseSchema().load(read_json(request))
        return self._written(counter_view(self.commands.pause_counter(counter, body["reason"])))

    @http("POST", "/api/queue/counters/<counter>/call-next")
    def http_call_next(self, request, counter):
        self._at_own_counter(self.require(request, "operator"), counter)
        ticket = self._called(self.commands.call_next(counter))
        return {"ticket": ticket, "message": None if ticket else "Tidak ada antrean menunggu."}

    @http("GET", "/api/queue/counters/<counter>")
    def http_counter_status(self, request, counter):
        self._at_own_counter(self.require(request, "operator"), counter)
        return json_ready(self.queries.counter_status(counter))

    @http("GET", "/api/queue/counters/<counter>/waiting")
    def http_counter_waiting(self, request, counter):
        """The tickets waiting for this counter, in the order call-next will call them."""
        self._at_own_counter(self.require(request, "operator"), counter)
        query = schemas.CounterWaitingQuerySchema().load(query_params(request))
        return json_ready(self.queries.counter_waiting(counter, query["limit"]))

    @http("GET", "/api/queue/overview")
    def http_overview(self, request):
        query = schemas.OverviewQuerySchema().load(query_params(request))
        return json_ready(self.queries.overview(query["site"]))

    @http("GET", "/api/queue/kiosk/<site>")
    def http_kiosk(self, request, site):
        """What a kiosk shows: the site, its agencies and their active services with the
        published standard (requirements, fee, completion time) and the live queue."""
        return json_ready(self.queries.kiosk(site))

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

    def _at_own_counter(self, principal, counter):
        """An operator acts only at a counter of the token's list that is, in the catalog
        now (read fresh, never cached), its agency's; admins act anywhere."""
        if not principal.may_use_counter(counter):
            raise Forbidden(f"Akun ini tidak bertugas di loket {counter}.", counter=counter)
        if not principal.is_admin:
            domain.check_counter_agency(counter, self.catalog.current_counter(counter)["agency"],
                                        principal.agency)

    def _citizen_or_staff(self, request, ticket_id):
        """"citizen" with the ticket's secret; "operator" for its agency's staff."""
        secret = _secret(request)
        if secret:
            self.queries.check_secret(ticket_id, secret)
            return "citizen"
        principal = self.require(request, *STAFF)
        ticket = self.queries.ticket(ticket_id)
        if not principal.in_agency(ticket["agency"]):
            raise Forbidden("Tiket ini milik instansi lain.", agency=ticket["agency"])
        return "operator"
