"""Reporting's storage: every event once, and the projections built from them.

* ``events``: each public event, stored once (``_id`` = event id); the source of truth
  for replays.
* ``facts``: one per ticket (leg), folded from all of its events; a fact is only
  replaced by one folded from more events, so concurrent handlers never write an
  older state over a newer one.
* ``feedback``: the IKM scores of each rated ticket.
* ``day_closures``: one per site and local day once the day is over, with the
  ``report.day_closed`` event in its outbox.
"""

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from services.kernel.events import utcnow
from services.kernel.outbox import OUTBOX, outbox_entries
from services.reporting.domain import fold_ticket, parse_time

SOURCE = "/antre/reporting"
PROJECTIONS = ("facts", "feedback")


class ReportingRepository:
    def __init__(self, db, source=SOURCE):
        self.db = db
        self.source = source
        self.events = db.events
        self.facts = db.facts
        self.feedback = db.feedback
        self.closures = db.day_closures

    def ensure_indexes(self):
        self.events.create_index([("ticket_id", ASCENDING)], sparse=True)
        self.events.create_index([("time", ASCENDING)])
        self.facts.create_index([("site", ASCENDING), ("local_day", ASCENDING)])
        self.feedback.create_index([("site", ASCENDING), ("local_day", ASCENDING)])

    def outbox_collections(self):
        return [self.closures]

    # -- ingest -------------------------------------------------------------------------

    def store_event(self, envelope):
        """Keep ``envelope`` once; False when it was stored before (a redelivery)."""
        data = envelope.get("data") or {}
        try:
            self.events.insert_one({
                "_id": envelope["id"],
                "type": envelope["type"],
                "time": parse_time(envelope["time"]),
                "site": envelope.get("site"),
                "agency": envelope.get("agency"),
                "ticket_id": data.get("ticket_id"),
                "envelope": envelope,
                "received_at": utcnow(),
            })
        except DuplicateKeyError:
            return False
        return True

    def ticket_events(self, ticket_id):
        return [doc["envelope"] for doc in self.events.find({"ticket_id": ticket_id})]

    def project_ticket(self, ticket_id):
        """Fold the ticket's stored events into its fact (kept only if newer)."""
        events = [e for e in self.ticket_events(ticket_id) if e["type"].startswith("antre.ticket.")]
        if not events:
            return None
        fact = fold_ticket(events)
        try:
            self.facts.replace_one({"_id": ticket_id, "events": {"$lt": fact["events"]}}, fact,
                                   upsert=True)
        except DuplicateKeyError:
            pass  # a fold of at least as many events is already stored
        return fact

    def project_feedback(self, envelope):
        data = envelope["data"]
        self.feedback.replace_one({"_id": data["ticket_id"]}, {
            "_id": data["ticket_id"], "site": data["site"], "agency": data["agency"],
            "service": data["service"], "counter": data.get("counter"),
            "local_day": data["local_day"], "scores": data["scores"],
        }, upsert=True)

    def ingested(self):
        return self.events.estimated_document_count()

    # -- reads --------------------------------------------------------------------------

    def facts_of(self, site=None, day=None, days=None):
        query = {}
        if site:
            query["site"] = site
        if day:
            query["local_day"] = day
        if days:
            query["local_day"] = {"$in": list(days)}
        return list(self.facts.find(query))

    def feedback_between(self, site, first, last):
        return list(self.feedback.find({"site": site, "local_day": {"$gte": first, "$lte": last}}))

    def site_days(self):
        """Every (site, local day) with facts."""
        pairs = {(f["site"], f["local_day"]) for f in self.facts.find({}, {"site": 1, "local_day": 1})}
        return sorted(pairs)

    # -- the end of a day -----------------------------------------------------------------

    def is_closed(self, site, day):
        return self.closures.count_documents({"_id": f"{site}|{day}"}, limit=1) > 0

    def close_day(self, site, day, summary, event):
        """Record the day's summary with its event, once; False if closed before."""
        try:
            self.closures.insert_one({"_id": f"{site}|{day}", "site": site, "local_day": day,
                                      "summary": summary, "closed_at": utcnow(),
                                      OUTBOX: outbox_entries([event], self.source)})
        except DuplicateKeyError:
            return False
        return True

    # -- replay ---------------------------------------------------------------------------

    def rebuild(self):
        """Drop every projection and rebuild it from the stored events."""
        for name in PROJECTIONS:
            self.db[name].delete_many({})
        tickets = set()
        for doc in self.events.find({}, {"ticket_id": 1, "type": 1, "envelope": 1}):
            if doc["type"].startswith("antre.ticket.") and doc.get("ticket_id"):
                tickets.add(doc["ticket_id"])
            elif doc["type"].startswith("antre.feedback.submitted."):
                self.project_feedback(doc["envelope"])
        for ticket_id in sorted(tickets):
            self.project_ticket(ticket_id)
        return {"tickets": len(tickets), "events": self.events.count_documents({})}
