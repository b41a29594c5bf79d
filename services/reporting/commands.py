"""What reporting writes: events ingested into facts, days closed (and announced),
projections rebuilt, dead letters replayed, re-queued or dropped. No nameko here: the
service injects the repository, the outbox relay, the catalog's site facts, the
broker's queues and a clock. Each answers what it wrote."""

from services.kernel import hours
from services.kernel.errors import NotFound
from services.kernel.events import Event
from services.kernel.infra.audit import audit
from services.reporting import domain

DEAD_LETTER_ACTIONS = {"drop": "dead_letter_dropped", "requeue": "dead_letter_requeued"}


class ReportingCommands:
    def __init__(self, repository, outbox, sites, broker, clock, service_name, close_delay):
        self.repo = repository
        self.outbox = outbox  # .relay_document(collection, id), .sweep(collection)
        self.sites = sites  # services.reporting.queries.Sites
        self.broker = broker  # services.reporting.dependencies.Broker
        self.clock = clock
        self.service_name = service_name
        self.close_delay = close_delay  # a timedelta after the site's local midnight

    def ingest(self, envelope):
        """Store the event once and update the projections it touches (idempotent)."""
        self.repo.ingest(envelope)

    def close_days(self):
        """Announce each site's day once it is over (plus the close delay): the days
        closed now, ``[(site, day)]``."""
        closed = []
        for site, day in self.repo.site_days(open_only=True):
            timezone = self.sites.timezone(site)
            if hours.local_day(timezone, self.clock() - self.close_delay).isoformat() <= day:
                continue
            report = domain.daily_report(self.repo.facts_of(site, day), site, day, timezone,
                                         self.sites.names(site))
            summary = {"site": site, "date": day, "totals": report["totals"],
                       "agencies": report["agencies"], "busiest_hours": report["busiest_hours"]}
            event = Event("report", "day_closed", f"reports/{site}/{day}", summary, site=site)
            if self.repo.close_day(site, day, summary, event):
                self.outbox.relay_document(self.repo.closures, f"{site}|{day}")
                closed.append((site, day))
        return closed

    def sweep_outbox(self):
        for collection in self.repo.outbox_collections():
            self.outbox.sweep(collection)

    def replay(self, by=None):
        """Rebuild every projection from the stored events; audit-logged when ``by``
        (the principal asking over HTTP)."""
        result = self.repo.rebuild()
        if by is not None:
            audit(self.repo.db.audit, by, "projections_rebuilt",
                  {"kind": "projections", "code": "all"}, after=result)
        return result

    def replay_dead_letters(self, limit=100, by=None):
        """Put up to ``limit`` dead letters back on the queue: how many; audit-logged
        when ``by``."""
        replayed = self.broker.replay_dead_letters(limit)
        if by is not None:
            audit(self.repo.db.audit, by, "dead_letters_replayed",
                  {"kind": "dead_letters", "code": self.service_name},
                  after={"replayed": replayed})
        return replayed

    def take_dead_letter(self, letter_id, action, by):
        """Re-queue (``action="requeue"``) or drop (``"drop"``) one dead letter: the
        letter as it was (audit-logged). 404 when the queue holds no letter with that id."""
        letter = self.broker.take_dead_letter(letter_id, action)
        if letter is None:
            raise NotFound(f"Tidak ada dead letter dengan id {letter_id}.", letter_id=letter_id)
        audit(self.repo.db.audit, by, DEAD_LETTER_ACTIONS[action],
              {"kind": "dead_letter", "code": letter_id}, before=letter)
        return letter
