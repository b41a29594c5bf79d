"""The reporting service: one truthful view over every agency.

It stores every public event once, folds ticket events into one fact per ticket,
and answers daily reports, the satisfaction index (IKM), Prometheus metrics and
CSV exports from those facts. Entrypoints stay thin.
"""

import csv
import hashlib
import io
import logging
from datetime import timedelta
from pathlib import Path

from nameko.dependency_providers import Config
from werkzeug.wrappers import Response

from services.kernel import hours
from services.kernel.auth import require, warn_if_open
from services.kernel.catalog import CatalogClient
from services.kernel.config import setting
from services.kernel.errors import NotFound, Unavailable
from services.kernel.events import Event, utcnow
from services.kernel.infra.audit import audit
from services.kernel.infra.cache import CatalogCache
from services.kernel.infra.consumer import (
    backlog,
    event_handler,
    peek_dead_letters,
    replay_dead_letters,
    take_dead_letter,
)
from services.kernel.infra.health import HealthMixin
from services.kernel.infra.http import http, json_ready, query_params, read_json
from services.kernel.infra.mongo import MongoDatabase, is_in_memory
from services.kernel.infra.outbox import Outbox, sweep_timer
from services.kernel.infra.pages import asset, page
from services.kernel.infra.rpc import RpcClient, rpc
from services.kernel.infra.timers import configured_timer
from services.kernel.tokens import Principal
from services.reporting import domain, ikm, schemas
from services.reporting.repository import ReportingRepository

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"


class ReportingStore(MongoDatabase):
    def __init__(self):
        super().__init__(ReportingRepository)

    def setup(self):
        super().setup()
        # The embedded store finishes every write before another worker runs.
        self.repository.running.concurrent = not is_in_memory(setting("MONGO_URL",
                                                                      self.container.config))

    def start(self):
        warn_if_open(self.container.config, self.container.service_name)


def _csv(header, rows, filename):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename={filename}"})


class ReportingService(HealthMixin):
    name = "reporting"

    repository = ReportingStore()
    outbox = Outbox()
    catalog_rpc = RpcClient("catalog")
    catalog_cache = CatalogCache()
    config = Config()

    # -- ingest -------------------------------------------------------------------------

    @event_handler("#")
    def ingest(self, envelope):
        """Store the event once and update the projections it touches (idempotent),
        together with the events other workers hold at the same moment; the message is
        acked once its batch is stored. The consumer has checked it against the
        published contract: an event that fails never gets here (it is dead-lettered
        with the reason)."""
        self.repository.ingest(envelope)

    # -- site facts from the catalog ------------------------------------------------------

    @property
    def catalog(self):
        return CatalogClient(self.catalog_rpc, self.catalog_cache)

    def _timezone(self, site):
        """The site's time zone from the catalog (404 for a site it does not know); the
        default zone while the catalog cannot be reached."""
        try:
            return self.catalog.site(site)["timezone"]
        except NotFound:
            raise
        except Exception:  # the catalog is down: reports still work, in the default zone
            log.warning("no time zone for site %s from the catalog; using the default", site)
            return setting("DEFAULT_TIMEZONE", self.config)

    def _names(self, site):
        """Agency and service names for reports; codes alone if the catalog is down."""
        try:
            return self.catalog.names(site)
        except Exception:  # names are a courtesy; figures never depend on them
            log.warning("no names from the catalog for site %s", site)
            return {}

    def _site(self, site):
        return site or setting("DEFAULT_SITE", self.config)

    # -- the end of a day -----------------------------------------------------------------

    @configured_timer("DAY_CLOSE_CHECK_SECONDS")
    def close_days(self):
        """Announce each site's day once it is over (plus DAY_CLOSE_DELAY_MINUTES)."""
        delay = timedelta(minutes=float(setting("DAY_CLOSE_DELAY_MINUTES", self.config)))
        for site, day in self.repository.site_days(open_only=True):
            timezone = self._timezone(site)
            if hours.local_day(timezone, utcnow() - delay).isoformat() <= day:
                continue
            report = domain.daily_report(self.repository.facts_of(site, day), site, day, timezone,
                                         self._names(site))
            summary = {"site": site, "date": day, "totals": report["totals"],
                       "agencies": report["agencies"], "busiest_hours": report["busiest_hours"]}
            event = Event("report", "day_closed", f"reports/{site}/{day}", summary, site=site)
            if self.repository.close_day(site, day, summary, event):
                self.outbox.relay_document(self.repository.closures, f"{site}|{day}")

    @sweep_timer
    def sweep_outbox(self):
        for collection in self.repository.outbox_collections():
            self.outbox.sweep(collection)

    # -- RPC ----------------------------------------------------------------------------

    @rpc
    def daily(self, site=None, date=None):
        query = schemas.DailyQuerySchema().load({"site": site, "date": date})
        site = self._site(query["site"])
        timezone = self._timezone(site)
        day = (query["date"] or hours.local_day(timezone, utcnow())).isoformat()
        report = self.repository.running.day(site, day, timezone).report(self._names(site))
        report["closed"] = self.repository.is_closed(site, day)
        return json_ready(report)

    @rpc
    def breakdown(self, site=None, date=None):
        query = schemas.DailyQuerySchema().load({"site": site, "date": date})
        site = self._site(query["site"])
        timezone = self._timezone(site)
        day = (query["date"] or hours.local_day(timezone, utcnow())).isoformat()
        running = self.repository.running.day(site, day, timezone)
        return json_ready(domain.breakdown(running.counted_facts(), site, day, timezone))

    @rpc
    def ikm(self, site=None, first=None, last=None):
        query = schemas.IkmQuerySchema().load({"site": site, "from": first, "to": last})
        site = self._site(query["site"])
        first, last = query["first"].isoformat(), query["last"].isoformat()
        records = self.repository.feedback_between(site, first, last)
        names = self._names(site)
        agency_of = {r["service"]: r["agency"] for r in records}
        return {
            "site": site, "from": first, "to": last,
            "overall": ikm.index(r["scores"] for r in records),
            "agencies": [{"agency": code, "name": names.get(("agencies", code)), **result}
                         for code, result in ikm.by_group(records, "agency").items()],
            "services": [{"service": code, "agency": agency_of[code],
                          "name": names.get(("services", code)), **result}
                         for code, result in ikm.by_group(records, "service").items()],
        }

    @rpc
    def replay(self):
        """Rebuild every projection from the stored events."""
        return self.repository.rebuild()

    @rpc
    def ingested(self):
        return self.repository.ingested()

    @rpc
    def dead_letters(self, limit=100):
        return json_ready(peek_dead_letters(setting("AMQP_URI", self.config), self.name, limit))

    @rpc
    def replay_dead_letters(self, limit=100):
        return replay_dead_letters(setting("AMQP_URI", self.config), self.name, limit)

    @rpc
    def take_dead_letter(self, letter_id, action):
        """Re-queue (``action="requeue"``) or drop (``"drop"``) one dead letter; the
        letter as it was. 404 when the queue holds no letter with that id. Audit-logged
        as done over RPC (the operator's command line, which needs broker access)."""
        return self._take_dead_letter(letter_id, action, Principal("rpc", "admin"))

    def _take_dead_letter(self, letter_id, action, principal):
        query = schemas.DeadLetterActionSchema().load({"letter_id": letter_id, "action": action})
        letter = take_dead_letter(setting("AMQP_URI", self.config), self.name,
                                  query["letter_id"], query["action"])
        if letter is None:
            raise NotFound(f"Tidak ada dead letter dengan id {letter_id}.", letter_id=letter_id)
        letter = json_ready(letter)
        audit(self.repository.db.audit, principal,
              {"drop": "dead_letter_dropped", "requeue": "dead_letter_requeued"}[action],
              {"kind": "dead_letter", "code": letter_id}, before=letter)
        return letter

    # -- HTTP ---------------------------------------------------------------------------
    #
    # Reports are read with an API key of a report viewer (e.g. Grafana), or by an agency
    # admin or admin; replays and dead letters are the admin's (and audit-logged).

    def _api_key(self, key):
        digest = hashlib.sha256(key.encode()).hexdigest()

        def ask_catalog():
            try:
                found = self.catalog_rpc.verify_api_key(key)
            except Exception:  # the catalog keeps the keys: without it no key can be checked
                log.warning("cannot check an API key: the catalog does not answer", exc_info=True)
                raise Unavailable("Kunci API tidak dapat diperiksa sekarang; coba lagi.") from None
            return Principal(found["subject"], found["role"], found.get("agency")) if found else None

        return self.catalog_cache.get(("api_key", digest), ask_catalog)

    def _admin(self, request):
        return require(request, self.config, api_keys=self._api_key)

    def _reader(self, request):
        return require(request, self.config, "report_viewer", "agency_admin",
                       api_keys=self._api_key)

    def _daily_from(self, request):
        self._reader(request)
        query = schemas.DailyQuerySchema().load(query_params(request))
        return self.daily(query["site"], query["date"] and query["date"].isoformat())

    @http("GET", "/api/reporting/daily")
    def http_daily(self, request):
        return self._daily_from(request)

    @http("GET", "/api/reporting/daily.csv")
    def http_daily_csv(self, request):
        report = self._daily_from(request)
        return _csv(domain.DAILY_CSV_COLUMNS, domain.daily_csv_rows(report),
                    f"antre-{report['site']}-{report['date']}.csv")

    @http("GET", "/api/reporting/breakdown")
    def http_breakdown(self, request):
        self._reader(request)
        query = schemas.DailyQuerySchema().load(query_params(request))
        return self.breakdown(query["site"], query["date"] and query["date"].isoformat())

    def _ikm_from(self, request):
        self._reader(request)
        params = query_params(request)
        schemas.IkmQuerySchema().load(params)  # every problem named, unknown parameters too
        return self.ikm(params.get("site"), params["from"], params["to"])

    @http("GET", "/api/reporting/ikm")
    def http_ikm(self, request):
        return self._ikm_from(request)

    @http("GET", "/api/reporting/ikm.csv")
    def http_ikm_csv(self, request):
        result = self._ikm_from(request)
        rows = [ikm.csv_rows("site", result["site"], result["overall"])]
        rows += [ikm.csv_rows("agency", a["agency"], a) for a in result["agencies"]]
        rows += [ikm.csv_rows("service", s["service"], s) for s in result["services"]]
        return _csv(ikm.CSV_COLUMNS, rows,
                    f"antre-ikm-{result['site']}-{result['from']}-{result['to']}.csv")

    @http("GET", "/metrics")
    def http_metrics(self, request):
        self._reader(request)
        facts = []
        for site in self.repository.sites():
            timezone = self._timezone(site)
            today = hours.local_day(timezone, utcnow()).isoformat()
            facts += self.repository.running.day(site, today, timezone).counted_facts()
        try:
            waiting = backlog(setting("AMQP_URI", self.config), self.name)
        except Exception:  # the figures still answer while the broker does not
            log.warning("no ingest backlog for /metrics: the broker did not answer")
            waiting = None
        text = domain.prometheus_text(facts, self.repository.ingested(), waiting)
        return Response(text, content_type="text/plain; version=0.0.4; charset=utf-8")

    @http("GET", "/dashboard/<site>")
    def page_dashboard(self, request, site):
        return page(STATIC, "dashboard.html", self.config, SITE=site)

    @http("GET", "/dashboard/assets/<name>")
    def page_asset(self, request, name):
        return asset(STATIC, name)

    @http("POST", "/api/reporting/replay")
    def http_replay(self, request):
        principal = self._admin(request)
        result = self.replay()
        audit(self.repository.db.audit, principal, "projections_rebuilt",
              {"kind": "projections", "code": "all"}, after=result)
        return result

    @http("GET", "/api/reporting/dead-letters")
    def http_dead_letters(self, request):
        self._admin(request)
        query = schemas.LimitQuerySchema().load(query_params(request))
        items = self.dead_letters(query["limit"])
        return {"items": items, "total": len(items)}

    @http("POST", "/api/reporting/dead-letters/replay")
    def http_replay_dead_letters(self, request):
        principal = self._admin(request)
        query = schemas.LimitQuerySchema().load(query_params(request))
        replayed = self.replay_dead_letters(query["limit"])
        audit(self.repository.db.audit, principal, "dead_letters_replayed",
              {"kind": "dead_letters", "code": self.name}, after={"replayed": replayed})
        return {"replayed": replayed}

    @http("POST", "/api/reporting/dead-letters/<letter_id>/<any(requeue,drop):action>")
    def http_take_dead_letter(self, request, letter_id, action):
        principal = self._admin(request)
        read_json(request, required=False)
        return {"action": action, "letter": self._take_dead_letter(letter_id, action, principal)}

