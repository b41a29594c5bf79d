"""The reporting service: one truthful view over every agency (for the MPP's readers;
an agency-bound reader sees its own agency's figures).

It stores every public event once, folds ticket events into one fact per ticket,
and answers daily reports, the satisfaction index (IKM), Prometheus metrics and
CSV exports from those facts. Entrypoints only: each parses its input, calls one use
case (:mod:`.commands`) or read view (:mod:`.queries`) and answers; what they are wired
to is in :mod:`.dependencies`.
"""

from pathlib import Path

from services.kernel.config import setting
from services.kernel.events import utcnow
from services.kernel.infra.base import AntreService
from services.kernel.infra.catalog import Catalog
from services.kernel.infra.consumer import event_handler
from services.kernel.infra.http import http, json_ready, query_params, read_json
from services.kernel.infra.outbox import Outbox, sweep_timer
from services.kernel.infra.pages import asset, page
from services.kernel.infra.rpc import rpc
from services.kernel.infra.timers import configured_timer
from services.kernel.tokens import Principal
from services.reporting import domain, schemas
from services.reporting.commands import ReportingCommands
from services.reporting.dependencies import (
    Broker,
    ReportingStore,
    api_key_check,
    csv_response,
    day_close_delay,
    metrics_response,
)
from services.reporting.queries import ReportingQueries, Sites

STATIC = Path(__file__).parent / "static"


class ReportingService(AntreService):
    name = "reporting"

    repository = ReportingStore()
    outbox = Outbox()
    catalog = Catalog()

    @property
    def sites(self):
        return Sites(self.catalog,
                     setting("DEFAULT_SITE", self.config),
                     setting("DEFAULT_TIMEZONE", self.config))

    @property
    def commands(self):
        return ReportingCommands(self.repository, self.outbox, self.sites,
                                 Broker(self.config, self.name), utcnow, self.name,
                                 day_close_delay(self.config))

    @property
    def queries(self):
        return ReportingQueries(self.repository, self.sites, Broker(self.config, self.name),
                                utcnow)

    # -- events and timers ----------------------------------------------------------------

    @event_handler("#")
    def ingest(self, envelope):
        """Store the event once and update the projections it touches (idempotent),
        together with the events other workers hold at the same moment; the message is
        acked once its batch is stored. The consumer has checked it against the
        published contract: an event that fails never gets here (it is dead-lettered
        with the reason)."""
        self.commands.ingest(envelope)

    @configured_timer("DAY_CLOSE_CHECK_SECONDS")
    def close_days(self):
        """Announce each site's day once it is over (plus DAY_CLOSE_DELAY_MINUTES)."""
        self.commands.close_days()

    @sweep_timer
    def sweep_outbox(self):
        self.commands.sweep_outbox()

    # -- RPC ----------------------------------------------------------------------------

    # The RPC callers hold broker access (the operator's command line): every agency, or
    # the one they ask for.

    @rpc
    def daily(self, site=None, date=None, agency=None):
        query = schemas.DailyQuerySchema().load({"site": site, "date": date, "agency": agency})
        return json_ready(self.queries.daily(**query))

    @rpc
    def breakdown(self, site=None, date=None, agency=None):
        query = schemas.DailyQuerySchema().load({"site": site, "date": date, "agency": agency})
        return json_ready(self.queries.breakdown(**query))

    @rpc
    def ikm(self, site=None, first=None, last=None, agency=None):
        query = schemas.IkmQuerySchema().load({"site": site, "from": first, "to": last,
                                               "agency": agency})
        return self.queries.ikm(**query)

    @rpc
    def replay(self):
        """Rebuild every projection from the stored events."""
        return self.commands.replay()

    @rpc
    def ingested(self):
        return self.queries.ingested()

    @rpc
    def dead_letters(self, limit=100):
        return self.queries.dead_letters(limit)

    @rpc
    def replay_dead_letters(self, limit=100):
        return self.commands.replay_dead_letters(limit)

    @rpc
    def take_dead_letter(self, letter_id, action):
        """Re-queue (``action="requeue"``) or drop (``"drop"``) one dead letter; the
        letter as it was. 404 when the queue holds no letter with that id. Audit-logged
        as done over RPC (the operator's command line, which needs broker access)."""
        query = schemas.DeadLetterActionSchema().load({"letter_id": letter_id, "action": action})
        return self.commands.take_dead_letter(query["letter_id"], query["action"],
                                              Principal("rpc", "admin"))

    # -- HTTP ---------------------------------------------------------------------------
    #
    # Reports are read with an API key of a report viewer (e.g. Grafana), or by an agency
    # admin or admin; replays and dead letters are the admin's (and audit-logged). An
    # agency admin, or a key created for one agency, reads its own agency's figures only
    # (``domain.report_scope``); the others every agency's, or the ``agency`` they ask.

    accepts_api_keys = True

    def api_key_check(self, source):
        return api_key_check(source)

    def _admin(self, request):
        return self.require(request)

    def _reader(self, request):
        return self.require(request, "report_viewer", "agency_admin")

    # The reports a reader asks for by name: each one's query and the read view answering it.
    REPORTS = {"daily": schemas.DailyQuerySchema, "breakdown": schemas.DailyQuerySchema,
               "ikm": schemas.IkmQuerySchema}

    def _report(self, request, report, suffix=""):
        """Check that the caller may read reports, parse the report's query string, and
        ask the read view ``report + suffix`` with it, for the agency the caller reads."""
        principal = self._reader(request)
        query = self.REPORTS[report]().load(query_params(request))
        query["agency"] = domain.report_scope(principal, query["agency"])
        return getattr(self.queries, report + suffix)(**query)

    @http("GET", "/api/reporting/<any(daily, breakdown, ikm):report>")
    def http_report(self, request, report):
        return json_ready(self._report(request, report))

    @http("GET", "/api/reporting/<any(daily, ikm):report>.csv")
    def http_report_csv(self, request, report):
        filename, text = self._report(request, report, "_csv")
        return csv_response(text, filename)

    @http("GET", "/metrics")
    def http_metrics(self, request):
        principal = self._reader(request)
        query = schemas.MetricsQuerySchema().load(query_params(request))
        return metrics_response(self.queries.metrics(domain.report_scope(principal,
                                                                         query["agency"])))

    @http("GET", "/dashboard/<site>")
    def page_dashboard(self, request, site):
        return page(STATIC, "dashboard.html", self.config, SITE=site)

    @http("GET", "/dashboard/assets/<name>")
    def page_asset(self, request, name):
        return asset(STATIC, name)

    @http("POST", "/api/reporting/replay")
    def http_replay(self, request):
        return self.commands.replay(by=self._admin(request))

    @http("GET", "/api/reporting/dead-letters")
    def http_dead_letters(self, request):
        self._admin(request)
        query = schemas.LimitQuerySchema().load(query_params(request))
        items = self.queries.dead_letters(query["limit"])
        return {"items": items, "total": len(items)}

    @http("POST", "/api/reporting/dead-letters/replay")
    def http_replay_dead_letters(self, request):
        principal = self._admin(request)
        query = schemas.LimitQuerySchema().load(query_params(request))
        return {"replayed": self.commands.replay_dead_letters(query["limit"], by=principal)}

    @http("POST", "/api/reporting/dead-letters/<letter_id>/<any(requeue,drop):action>")
    def http_take_dead_letter(self, request, letter_id, action):
        principal = self._admin(request)
        read_json(request, required=False)
        query = schemas.DeadLetterActionSchema().load({"letter_id": letter_id, "action": action})
        return {"action": action,
                "letter": self.commands.take_dead_letter(query["letter_id"], query["action"],
                                                         principal)}
