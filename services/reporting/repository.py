"""Reporting's storage: every event once, and the projections built from them.

* ``events``: each public event, stored once (``_id`` = event id); the source of truth
  for replays.
* ``facts``: one per ticket (leg), folded from all of its events; a fact is only
  replaced by one folded from more events, so concurrent handlers never write an
  older state over a newer one.
* ``feedback``: the IKM scores of each rated ticket.
* ``day_closures``: one per site and local day once the day is over, with the
  ``report.day_closed`` event in its outbox.
* ``rebuilds``: the one replay under way, if any (a lock, and the intent of its swap).
* ``site_days``: one per site and local day that has facts, marked ``closed`` once its
  day is announced: what the day-close timer and ``/metrics`` read instead of every fact.

A replay is all or nothing: it folds the stored events into new collections beside the
live ones, and only when every ticket is folded does it swap them in (MongoDB's
``renameCollection``); the swap is written down first, so a process that dies in the
middle of it finishes it at its next start. Until the swap, readers see the figures as
they were; a replay that fails leaves them exactly so. A stored event that the
contract refuses (stored before events were checked on arrival) is set aside: left
out of every fold, marked in ``events`` and listed in the replay's answer.
"""

import uuid
from datetime import timedelta

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from services.kernel.contract import contract as published_contract
from services.kernel.errors import Conflict
from services.kernel.events import utcnow
from services.kernel.outbox import OUTBOX, outbox_entries
from services.reporting.domain import feedback_record, fold_ticket, parse_time

SOURCE = "/antre/reporting"
PROJECTIONS = ("facts", "feedback")
REBUILD_SUFFIX = "__rebuild"
REBUILD_LOCK = "replay"
STALE_REBUILD = timedelta(minutes=2)  # a replay that has not moved for this long died
HEARTBEAT_EVERY = 200  # tickets folded between two heartbeats of a replay


def _building(name, token):
    """The collection a replay builds projection ``name`` in."""
    return f"{name}{REBUILD_SUFFIX}_{token[:12]}"


class ReplayRunning(Conflict):
    code = "replay_running"


class ReportingRepository:
    def __init__(self, db, source=SOURCE, contract=None):
        self.db = db
        self.source = source
        self.events = db.events
        self.bundles = db.ticket_events
        self.facts = db.facts
        self.feedback = db.feedback
        self.closures = db.day_closures
        self.rebuilds = db.rebuilds
        self.days = db.site_days
        self.contract = contract or published_contract()
        # A test hook: called with the number of tickets folded so far during a replay.
        self.during_rebuild = None

    def ensure_indexes(self):
        self.events.create_index([("ticket_id", ASCENDING)], sparse=True)
        self.events.create_index([("time", ASCENDING)])
        self.events.create_index([("received_at", ASCENDING)])
        self.bundles.create_index([("ids", ASCENDING)])  # set-aside events leave their bundle
        self._projection_indexes(self.facts, self.feedback)
        self.days.create_index([("closed", ASCENDING)])
        self.finish_interrupted_swap()
        self._record_days_of_older_facts()

    def _record_days_of_older_facts(self):
        """Facts stored by versions without ``site_days``: recorded once, at start-up."""
        if self.days.estimated_document_count() or not self.facts.estimated_document_count():
            return
        pairs = {(f["site"], f["local_day"]) for f in self.facts.find({}, {"site": 1, "local_day": 1})}
        for site, day in pairs:
            self._record_day(site, day)

    def _record_day(self, site, day):
        self.days.update_one({"_id": f"{site}|{day}"},
                             {"$setOnInsert": {"site": site, "local_day": day,
                                               "closed": self.is_closed(site, day)}},
                             upsert=True)

    @staticmethod
    def _projection_indexes(facts, feedback):
        facts.create_index([("site", ASCENDING), ("local_day", ASCENDING)])
        feedback.create_index([("site", ASCENDING), ("local_day", ASCENDING)])

    def outbox_collections(self):
        return [self.closures]

    # -- ingest -------------------------------------------------------------------------

    def store_event(self, envelope):
        """Keep ``envelope`` once; False when it was stored before (a redelivery). The
        consumer has checked it against the contract (``checked``)."""
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
                "checked": True,
            })
            stored = True
        except DuplicateKeyError:
            stored = False
        self._bundle(envelope)  # on a redelivery too: its first attempt may have died here
        return stored

    def _bundle(self, envelope):
        """Keep a ticket event with its ticket's other events too (``ticket_events``, by
        ticket id), so that folding a ticket reads one document by its key, never a
        query over all stored events. Idempotent: an event is added once."""
        ticket_id = (envelope.get("data") or {}).get("ticket_id")
        if not envelope["type"].startswith("antre.ticket.") or not isinstance(ticket_id, str):
            return
        try:
            bundle = self.bundles.find_one_and_update(
                {"_id": ticket_id, "ids": {"$ne": envelope["id"]}},
                {"$push": {"ids": envelope["id"], "envelopes": envelope}},
                projection={"ids": 1}, upsert=True, return_document=ReturnDocument.AFTER)
        except DuplicateKeyError:
            return  # the bundle holds it already
        if len(bundle["ids"]) == 1 and not envelope["type"].startswith("antre.ticket.issued."):
            # A ticket first met after its issue: events stored by an older version
            # (before bundles) join its bundle once, from the stored events.
            for older in self.ticket_events(ticket_id):
                if older["id"] != envelope["id"]:
                    self.bundles.update_one(
                        {"_id": ticket_id, "ids": {"$ne": older["id"]}},
                        {"$push": {"ids": older["id"], "envelopes": older}})

    def _usable(self, doc):
        """Whether a stored event may be folded: checked on arrival, or (stored before
        events were checked) valid against the contract now; never one set aside."""
        if doc.get("set_aside"):
            return False
        return bool(doc.get("checked")) or self.contract.is_valid(doc["envelope"])

    def ticket_events(self, ticket_id):
        return [doc["envelope"] for doc in self.events.find({"ticket_id": ticket_id})
                if self._usable(doc)]

    def project_ticket(self, ticket_id, facts=None):
        """Fold the ticket's stored events into its fact (kept only if newer)."""
        facts = self.facts if facts is None else facts
        bundle = self.bundles.find_one({"_id": ticket_id}, {"envelopes": 1})
        stored = bundle["envelopes"] if bundle else self.ticket_events(ticket_id)
        events = [e for e in stored if e["type"].startswith("antre.ticket.")]
        fact = fold_ticket(events)
        if fact is None:
            return None
        try:
            written = facts.replace_one({"_id": ticket_id, "events": {"$lt": fact["events"]}},
                                        fact, upsert=True)
        except DuplicateKeyError:
            return fact  # a fold of at least as many events is already stored
        if written.upserted_id is not None:  # a ticket's first fact: its day may be new
            self._record_day(fact["site"], fact["local_day"])
        return fact

    def project_feedback(self, envelope, feedback=None):
        record = feedback_record(envelope)
        if record is None:
            return None
        feedback = self.feedback if feedback is None else feedback
        feedback.replace_one({"_id": record["_id"]}, record, upsert=True)
        return record

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

    def site_days(self, open_only=False):
        """Every (site, local day) with facts; ``open_only``: those not announced closed."""
        query = {"closed": False} if open_only else {}
        return sorted((d["site"], d["local_day"]) for d in self.days.find(query))

    def sites(self):
        return sorted(self.days.distinct("site"))

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
        finally:
            self.days.update_one({"_id": f"{site}|{day}"}, {"$set": {"closed": True}})
        return True

    # -- replay ---------------------------------------------------------------------------

    def rebuild(self):
        """Rebuild every projection from the stored events, all or nothing (see the
        module's docstring). Returns how many tickets and events were folded and the
        events set aside; raises :class:`ReplayRunning` while another replay runs."""
        started = utcnow()
        token = self._take_rebuild_lock(started)
        building = {name: self.db[_building(name, token)] for name in PROJECTIONS}
        try:
            for name in self.db.list_collection_names():  # what dead replays left
                if REBUILD_SUFFIX in name:
                    self.db[name].drop()
            for collection in building.values():
                self.db.create_collection(collection.name)
            self._projection_indexes(building["facts"], building["feedback"])
            set_aside, tickets = self._fold_all(building, token)
            swapping = self.rebuilds.update_one({"_id": REBUILD_LOCK, "token": token},
                                                {"$set": {"state": "swapping"}})
            if swapping.matched_count != 1:  # taken over as stale: the other replay swaps
                raise ReplayRunning("Pembangunan ulang laporan ini diambil alih oleh yang lain.")
        except BaseException:
            for collection in building.values():
                collection.drop()
            self.rebuilds.delete_one({"_id": REBUILD_LOCK, "token": token})
            raise
        self._swap(token)
        for problem in set_aside:
            self.events.update_one({"_id": problem["id"]}, {"$set": {"set_aside": problem}})
            # Out of its ticket's bundle too, so that live folds leave it out as well.
            self.bundles.update_many({"ids": problem["id"]},
                                     {"$pull": {"ids": problem["id"],
                                                "envelopes": {"id": problem["id"]}}})
        self._catch_up(started)
        return {"tickets": tickets, "events": self.events.count_documents({}),
                "set_aside": set_aside}

    def _take_rebuild_lock(self, now):
        token = uuid.uuid4().hex
        self.finish_interrupted_swap()
        stale = now - STALE_REBUILD
        self.rebuilds.delete_one({"_id": REBUILD_LOCK, "state": "building",
                                  "touched_at": {"$lt": stale}})
        try:
            self.rebuilds.insert_one({"_id": REBUILD_LOCK, "token": token, "state": "building",
                                      "started_at": now, "touched_at": now})
        except DuplicateKeyError:
            raise ReplayRunning("Pembangunan ulang laporan sedang berjalan; tunggu sampai "
                                "selesai.") from None
        return token

    def _fold_all(self, building, token):
        set_aside, tickets, days = [], set(), set()
        for doc in self.events.find({}, {"ticket_id": 1, "type": 1, "envelope": 1}):
            problems = self.contract.problems(doc.get("envelope"))
            if problems:
                set_aside.append({"id": doc["_id"], "type": str(doc.get("type"))[:120],
                                  "reason": "; ".join(problems)[:500]})
                continue
            kind = doc["type"]
            if kind.startswith("antre.ticket.") and doc.get("ticket_id"):
                tickets.add(doc["ticket_id"])
            elif kind.startswith("antre.feedback.submitted."):
                self.project_feedback(doc["envelope"], building["feedback"])
        aside = {problem["id"] for problem in set_aside}
        for done, ticket_id in enumerate(sorted(tickets), 1):
            events = [d["envelope"] for d in self.events.find({"ticket_id": ticket_id})
                      if d["_id"] not in aside and d["type"].startswith("antre.ticket.")]
            fact = fold_ticket(events)
            if fact is not None:
                building["facts"].replace_one({"_id": ticket_id}, fact, upsert=True)
                days.add((fact["site"], fact["local_day"]))
            if self.during_rebuild:
                self.during_rebuild(done)
            if done % HEARTBEAT_EVERY == 0:
                self.rebuilds.update_one({"_id": REBUILD_LOCK, "token": token},
                                         {"$set": {"touched_at": utcnow()}})
        for site, day in days:  # (days are only ever added: a superset is harmless)
            self._record_day(site, day)
        return set_aside, len(tickets)

    def _swap(self, token):
        present = set(self.db.list_collection_names())
        for name in PROJECTIONS:
            if _building(name, token) in present:
                self.db[_building(name, token)].rename(name, dropTarget=True)
        self.rebuilds.delete_one({"_id": REBUILD_LOCK, "token": token})

    def finish_interrupted_swap(self):
        """Finish a swap that a dead process began (every new projection was complete
        before it began); True when there was one."""
        lock = self.rebuilds.find_one({"_id": REBUILD_LOCK, "state": "swapping"})
        if lock is None:
            return False
        self._swap(lock["token"])
        self._catch_up(lock["started_at"])
        return True

    def _catch_up(self, since):
        """Fold again what arrived while the replay ran: live ingest wrote it into the
        projections that the swap replaced."""
        tickets = set()
        for doc in self.events.find({"received_at": {"$gte": since}},
                                    {"ticket_id": 1, "type": 1, "envelope": 1, "checked": 1,
                                     "set_aside": 1}):
            if doc["type"].startswith("antre.ticket.") and doc.get("ticket_id"):
                tickets.add(doc["ticket_id"])
            elif doc["type"].startswith("antre.feedback.submitted.") and self._usable(doc):
                self.project_feedback(doc["envelope"])
        for ticket_id in sorted(tickets):
            self.project_ticket(ticket_id)
