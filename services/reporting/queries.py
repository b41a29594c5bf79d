"""What reporting answers without changing anything: the daily report, its breakdown,
the satisfaction index (IKM), their CSV exports, Prometheus metrics, dead letters.
No nameko here: the service injects the repository, the catalog, the broker's queues
and a clock."""

import csv
import io
import logging

from services.kernel import hours
from services.kernel.errors import NotFound
from services.reporting import domain, ikm

log = logging.getLogger(__name__)


class Sites:
    """What reports need from the catalog about a site, with the defaults that keep
    figures answering while the catalog does not."""

    def __init__(self, catalog, default_site, default_timezone):
        self.catalog = catalog
        self.default_site = default_site
        self.default_timezone = default_timezone

    def code(self, site):
        return site or self.default_site

    def timezone(self, site):
        """The site's time zone from the catalog (404 for a site it does not know); the
        default zone while the catalog cannot be reached."""
        try:
            return self.catalog.site(site)["timezone"]
        except NotFound:
            raise
        except Exception:  # the catalog is down: reports still work, in the default zone
            log.warning("no time zone for site %s from the catalog; using the default", site)
            return self.default_timezone

    def names(self, site):
        """Agency and service names for reports; codes alone if the catalog is down."""
        try:
            return self.catalog.names(site)
        except Exception:  # names are a courtesy; figures never depend on them
            log.warning("no names from the catalog for site %s", site)
            return {}


def _part(agency):
    """The agency's part of an export's file name: ``-DISDUKCAPIL``, or nothing."""
    return f"-{agency}" if agency else ""


def csv_text(header, rows):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


class ReportingQueries:
    def __init__(self, repository, sites, broker, clock):
        self.repo = repository
        self.sites = sites
        self.broker = broker
        self.clock = clock

    def _day(self, site, date):
        """``(site, local day, time zone)``: the day asked, else the site's today."""
        site = self.sites.code(site)
        timezone = self.sites.timezone(site)
        day = (date or hours.local_day(timezone, self.clock())).isoformat()
        return site, day, timezone

    # -- reports --------------------------------------------------------------------------

    # Each report takes ``agency``: None for every agency, else that agency's figures
    # only, its totals too (the service decides it, :func:`domain.report_scope`).

    def daily(self, site=None, date=None, agency=None):
        site, day, timezone = self._day(site, date)
        running = self.repo.running.day(site, day, timezone)
        names = self.sites.names(site)
        if agency is None:
            report = running.report(names)
        else:  # the running figures are the site's: the agency's come from its facts
            report = domain.daily_report(domain.of_agency(running.counted_facts(), agency),
                                         site, day, timezone, names)
        report["closed"] = self.repo.is_closed(site, day)
        return report

    def daily_csv(self, site=None, date=None, agency=None):
        """``(file name, CSV text)`` of the daily report (the agency's in its name)."""
        report = self.daily(site, date, agency)
        return (f"antre-{report['site']}{_part(agency)}-{report['date']}.csv",
                csv_text(domain.DAILY_CSV_COLUMNS, domain.daily_csv_rows(report)))

    def breakdown(self, site=None, date=None, agency=None):
        site, day, timezone = self._day(site, date)
        running = self.repo.running.day(site, day, timezone)
        return domain.breakdown(domain.of_agency(running.counted_facts(), agency), site, day,
                                timezone)

    def ikm(self, site, first, last, agency=None):
        site = self.sites.code(site)
        first, last = first.isoformat(), last.isoformat()
        records = self.repo.feedback_between(site, first, last, agency)
        names = self.sites.names(site)
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

    def ikm_csv(self, site, first, last, agency=None):
        """``(file name, CSV text)`` of the satisfaction index (the agency's in its name)."""
        result = self.ikm(site, first, last, agency)
        rows = [ikm.csv_rows("site", result["site"], result["overall"])]
        rows += [ikm.csv_rows("agency", a["agency"], a) for a in result["agencies"]]
        rows += [ikm.csv_rows("service", s["service"], s) for s in result["services"]]
        return (f"antre-ikm-{result['site']}{_part(agency)}-{result['from']}-{result['to']}.csv",
                csv_text(ikm.CSV_COLUMNS, rows))

    def metrics(self, agency=None):
        """The Prometheus text: today's figures of every site, the events ingested, and
        the ingest backlog while the broker answers. For one ``agency``: its series
        only (the events ingested and the backlog are the MPP's, left out)."""
        facts = []
        for site in self.repo.sites():
            timezone = self.sites.timezone(site)
            today = hours.local_day(timezone, self.clock()).isoformat()
            facts += self.repo.running.day(site, today, timezone).counted_facts()
        if agency is not None:
            return domain.prometheus_text(domain.of_agency(facts, agency))
        try:
            waiting = self.broker.backlog()
        except Exception:  # the figures still answer while the broker does not
            log.warning("no ingest backlog for /metrics: the broker did not answer")
            waiting = None
        return domain.prometheus_text(facts, self.repo.ingested(), waiting)

    # -- operations -----------------------------------------------------------------------

    def ingested(self):
        return self.repo.ingested()

    def dead_letters(self, limit=100):
        return self.broker.dead_letters(limit)
