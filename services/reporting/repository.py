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
  It also numbers the day's fact writes (``revision``: each write of a fact takes the
  next number, stored in the fact) and counts replays (``epoch``).

Ingest comes in batches (:meth:`ReportingRepository.ingest_many`, a handful of store
operations for the whole batch) or one event at a time (:meth:`ingest_one`, what a
batch that failed falls back to); both store the same things.

The daily figures are read from :class:`RunningDays`: each process keeps the figures of
the days it is asked for (:class:`services.reporting.running.RunningDay`), applies the
facts it writes itself at once, and reads only the facts that other processes wrote
since (by revision, on an index) before it answers. A read costs one look-up of the
day's ``site_days`` record when nothing changed elsewhere, never a read of the day.

A replay is all or nothing: it folds the stored events into new collections beside the
live ones, and only when every ticket is folded does it swap them in (MongoDB's
``renameCollection``); the swap is written down first, so a process that dies in the
middle of it finishes it at its next start. Until the swap, readers see the figures as
they were; a replay that fails leaves them exactly so. A stored event that the
contract refuses (stored before events were checked on arrival) is set aside: left
out of every fold, marked in ``events`` and listed in the replay's answer.
"""

import time
import uuid
from collections import OrderedDict, defaultdict
from datetime import timedelta

from pymongo import ASCENDING, InsertOne, ReplaceOne, ReturnDocument, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.kernel.batching import BatchFailed, GroupCommit
from services.kernel.contract import contract as published_contract
from services.kernel.errors import Conflict
from services.kernel.events import utcnow
from services.kernel.infra.mongo import Collection, Index, Repository
from services.kernel.infra.outbox import OUTBOX, outbox_entries
from services.reporting.domain import feedback_record, fold_ticket, parse_time
from services.reporting.running import RunningDay

SOURCE = "/antre/reporting"
PROJECTIONS = ("facts", "feedback")
REBUILD_SUFFIX = "__rebuild"
REBUILD_LOCK = "replay"
STALE_REBUILD = timedelta(minutes=2)  # a replay that has not moved for this long died
HEARTBEAT_EVERY = 200  # tickets folded between two heartbeats of a replay
MAX_BATCH = 200  # events stored together at most
IN_FLIGHT = 4 * MAX_BATCH  # revisions that may be taken and not yet written at a load
DUPLICATE = 11000


def _only_duplicates(error):
    """The indexes of a bulk write's operations that failed because what they would
    write is there already; re-raises any other failure."""
    failures = error.details.get("writeErrors", [])
    if error.details.get("writeConcernErrors") or any(f["code"] != DUPLICATE for f in failures):
        raise error
    return {f["index"] for f in failures}


def _bulk(collection, operations):
    """Run ``operations`` unordered; the indexes of those that met a duplicate key."""
    if not operations:
        return set()
    try:
        collection.bulk_write(operations, ordered=False)
    except BulkWriteError as error:
        return _only_duplicates(error)
    return set()


def _is_ticket_event(envelope):
    return envelope["type"].startswith("antre.ticket.") and isinstance(
        (envelope.get("data") or {}).get("ticket_id"), str)


def _building(name, token):
    """The collection a replay builds projection ``name`` in."""
    return f"{name}{REBUILD_SUFFIX}_{token[:12]}"


class ReplayRunning(Conflict):
    code = "replay_running"


def _event_record(envelope):
    """How an event is stored in ``events``."""
    data = envelope.get("data") or {}
    return {
        "_id": envelope["id"],
        "type": envelope["type"],
        "time": parse_time(envelope["time"]),
        "site": envelope.get("site"),
        "agency": envelope.get("agency"),
        "ticket_id": data.get("ticket_id"),
        "envelope": envelope,
        "received_at": utcnow(),
        "checked": True,
    }


def _first_met_after_issue(bundle, new_ids):
    """Whether ``bundle`` holds only events that just arrived, none of them the issue:
    the ticket may have events stored by a version from before bundles."""
    return bool(bundle["ids"]) and set(bundle["ids"]) <= new_ids and not any(
        e["type"].startswith("antre.ticket.issued.") for e in bundle["envelopes"])


class RunningDays:
    """The running figures of the days this process is asked for.

    Each day's figures are loaded once from its facts, then kept current: the facts
    this process writes are applied as they are written (:meth:`written`), and before
    a day is read, the facts other processes wrote since are read by revision. A
    revision is taken before its fact is written, so one that is not there yet may
    still come: it is looked for again until ``gap_seconds`` have passed (after that
    it was superseded by a later write of its ticket, or refused as older). Every
    ``reload_seconds`` and after each replay (``epoch``) a day is loaded again.

    ``concurrent`` says that a write may be under way while a day is loaded (another
    process, or a store that answers over the network): then the revisions taken just
    before a load and not in it are looked for again too. The embedded store runs each
    write to its end before any other worker runs, in its one process: nothing is ever
    under way there, and its service turns ``concurrent`` off.
    """

    def __init__(self, repository, gap_seconds=5.0, reload_seconds=300.0, keep=16,
                 clock=time.monotonic, concurrent=True):
        self.repository = repository
        self.concurrent = concurrent
        self.gap_seconds, self.reload_seconds, self.keep = gap_seconds, reload_seconds, keep
        self.clock = clock
        self.days = OrderedDict()  # (site, day) -> _Running

    def day(self, site, day, timezone):
        """The current running figures of ``site`` on ``day``."""
        record = self.repository.days.find_one({"_id": f"{site}|{day}"},
                                               {"revision": 1, "epoch": 1}) or {}
        revision, epoch = record.get("revision", 0), record.get("epoch", 0)
        now = self.clock()
        running = self.days.get((site, day))
        if running is None or running.figures.timezone != timezone or running.epoch != epoch \
                or now - running.loaded_at > self.reload_seconds:
            running = self._load(site, day, timezone, revision, epoch, now)
        else:
            self._catch_up(running, revision, now)
        self.days.move_to_end((site, day))
        return running.figures

    def _load(self, site, day, timezone, revision, epoch, now):
        running = _Running(RunningDay(site, day, timezone), epoch, revision, now)
        facts = self.repository.facts_of(site, day)
        for fact in facts:
            running.figures.apply(fact)
        if self.concurrent:  # revisions taken just before the load may not be written yet
            present = {fact.get("revision") for fact in facts}
            running.missing = {r: now for r in range(max(1, revision - IN_FLIGHT), revision + 1)
                               if r not in present}
        self.days[(site, day)] = running
        while len(self.days) > self.keep:
            self.days.popitem(last=False)
        return running

    def _catch_up(self, running, revision, now):
        running.missing = {r: t for r, t in running.missing.items()
                           if now - t < self.gap_seconds}
        if revision <= running.high and not running.missing:
            return  # nothing written since, anywhere
        figures, seen = running.figures, set()
        day = {"site": figures.site, "local_day": figures.day}
        queries = []
        if revision > running.high:
            queries.append({**day, "revision": {"$gt": running.high}})
        if running.missing:
            queries.append({**day, "revision": {"$in": sorted(running.missing)}})
        for query in queries:
            for fact in self.repository.facts.find(query):
                figures.apply(fact)
                seen.add(fact.get("revision"))
        for r in seen:
            running.missing.pop(r, None)
        for r in range(running.high + 1, revision + 1):
            if r not in seen:
                running.missing[r] = now
        running.high = max(running.high, revision)

    def written(self, facts, refused=()):
        """Facts this process has just stored (and ``refused``, the ones it did not
        store because a newer fold was there): into the days it keeps figures of."""
        now = self.clock()
        for fact, stored in [(f, True) for f in facts] + [(f, False) for f in refused]:
            running = self.days.get((fact["site"], fact["local_day"]))
            if running is None:
                continue
            if stored:
                running.figures.apply(fact)
            revision = fact.get("revision")
            if revision is None:
                continue
            running.missing.pop(revision, None)
            if revision > running.high:
                for r in range(running.high + 1, revision):
                    running.missing[r] = now  # taken elsewhere (or later here), not seen yet
                running.high = revision


class _Running:
    __slots__ = ("figures", "epoch", "high", "loaded_at", "missing")

    def __init__(self, figures, epoch, high, loaded_at):
        self.figures, self.epoch, self.high, self.loaded_at = figures, epoch, high, loaded_at
        self.missing = {}  # revisions taken but not seen yet -> when first missed


class ReportingRepository(Repository):
    events = Collection("events", Index("ticket_id", sparse=True), Index("time"),
                        Index("received_at"))
    # Set-aside events leave their bundle: found by ``ids``.
    bundles = Collection("ticket_events", Index("ids"))
    facts = Collection("facts")
    feedback = Collection("feedback")
    closures = Collection("day_closures")
    rebuilds = Collection("rebuilds")
    days = Collection("site_days", Index("closed"))

    def __init__(self, db, source=SOURCE, contract=None):
        super().__init__(db)
        self.source = source
        self.contract = contract or published_contract()
        self.batches = GroupCommit(self.ingest_many, MAX_BATCH)
        self.running = RunningDays(self)
        # A test hook: called with the number of tickets folded so far during a replay.
        self.during_rebuild = None

    def ensure_indexes(self):
        super().ensure_indexes()
        self._projection_indexes(self.facts, self.feedback)
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
        # What other processes wrote since a running day last looked (RunningDays).
        facts.create_index([("site", ASCENDING), ("local_day", ASCENDING),
                            ("revision", ASCENDING)])
        feedback.create_index([("site", ASCENDING), ("local_day", ASCENDING)])

    def outbox_collections(self):
        return [self.closures]

    # -- ingest -------------------------------------------------------------------------

    def ingest(self, envelope):
        """Store ``envelope`` with the events other workers are storing at the same
        moment (:class:`~services.kernel.batching.GroupCommit`); alone when its batch
        failed, so that only an event that fails alone is retried. Idempotent."""
        try:
            self.batches.submit(envelope)
        except BatchFailed:
            self.ingest_one(envelope)

    def ingest_one(self, envelope):
        """Store one event and update the projections it touches (idempotent: a
        redelivery is stored once, and projecting it again changes nothing)."""
        self.store_event(envelope)
        self._project(envelope)

    def _project(self, envelope):
        kind = envelope["type"].split(".")[1]
        if kind == "ticket":
            self.project_ticket(envelope["data"]["ticket_id"])
        elif kind == "feedback":
            self.project_feedback(envelope)

    def ingest_many(self, envelopes):
        """Store a batch of events and update their projections: one insert of the
        events, one bulk update of their tickets' bundles, one read of those bundles,
        one revision per site and day, one bulk write of the facts (and one write per
        feedback). The same outcome as :meth:`ingest_one` of each, in any order."""
        unique = list({e["id"]: e for e in envelopes}.values())
        _bulk(self.events, [InsertOne(_event_record(e)) for e in unique])
        tickets = [e for e in unique if _is_ticket_event(e)]
        _bulk(self.bundles, [UpdateOne({"_id": e["data"]["ticket_id"], "ids": {"$ne": e["id"]}},
                                       {"$push": {"ids": e["id"], "envelopes": e}}, upsert=True)
                             for e in tickets])
        if tickets:
            ids = list(dict.fromkeys(e["data"]["ticket_id"] for e in tickets))
            bundles = {b["_id"]: b for b in self.bundles.find({"_id": {"$in": ids}},
                                                               {"ids": 1, "envelopes": 1})}
            new = {e["id"] for e in tickets}
            folded = []
            for ticket_id in ids:
                bundle = bundles.get(ticket_id) or {"ids": [], "envelopes": []}
                if _first_met_after_issue(bundle, new):
                    self._merge_older(ticket_id, bundle["ids"])
                    bundle = self.bundles.find_one({"_id": ticket_id}, {"envelopes": 1})
                fact = fold_ticket([e for e in bundle["envelopes"]
                                    if e["type"].startswith("antre.ticket.")])
                if fact is not None:
                    folded.append(fact)
            self._write_facts(folded)
        for envelope in unique:
            if envelope["type"].split(".")[1] == "feedback":
                self.project_feedback(envelope)

    def store_event(self, envelope):
        """Keep ``envelope`` once; False when it was stored before (a redelivery). The
        consumer has checked it against the contract (``checked``)."""
        try:
            self.events.insert_one(_event_record(envelope))
            stored = True
        except DuplicateKeyError:
            stored = False
        self._bundle(envelope)  # on a redelivery too: its first attempt may have died here
        return stored

    def _bundle(self, envelope):
        """Keep a ticket event with its ticket's other events too (``ticket_events``, by
        ticket id), so that folding a ticket reads one document by its key, never a
        query over all stored events. Idempotent: an event is added once."""
        if not _is_ticket_event(envelope):
            return
        ticket_id = envelope["data"]["ticket_id"]
        try:
            bundle = self.bundles.find_one_and_update(
                {"_id": ticket_id, "ids": {"$ne": envelope["id"]}},
                {"$push": {"ids": envelope["id"], "envelopes": envelope}},
                projection={"ids": 1, "envelopes.type": 1}, upsert=True,
                return_document=ReturnDocument.AFTER)
        except DuplicateKeyError:
            return  # the bundle holds it already
        if _first_met_after_issue(bundle, {envelope["id"]}):
            self._merge_older(ticket_id, bundle["ids"])

    def _merge_older(self, ticket_id, known):
        """A ticket first met after its issue: events stored by an older version
        (before bundles) join its bundle once, from the stored events."""
        for older in self.ticket_events(ticket_id):
            if older["id"] not in known:
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
        self._write_facts([fact], facts)
        return fact

    def _write_facts(self, facts, collection=None):
        """Store each fact unless one folded from at least as many events is stored
        (concurrent folds never write an older state over a newer one). In the live
        projection each fact first takes the next revision of its day, and the facts
        written go to this process's running days."""
        collection = self.facts if collection is None else collection
        live = collection.name == self.facts.name
        if live:
            by_day = defaultdict(list)
            for fact in facts:
                by_day[(fact["site"], fact["local_day"])].append(fact)
            for (site, day), written in by_day.items():
                last = self._take_revisions(site, day, len(written))
                for offset, fact in enumerate(written):
                    fact["revision"] = last - len(written) + 1 + offset
        refused = _bulk(collection, [
            ReplaceOne({"_id": f["_id"], "events": {"$lt": f["events"]}}, f, upsert=True)
            for f in facts])
        if live:
            self.running.written([f for i, f in enumerate(facts) if i not in refused],
                                 [f for i, f in enumerate(facts) if i in refused])

    def _take_revisions(self, site, day, count):
        """Reserve ``count`` revisions of the day; the last one. Records the day (with
        its closed mark) when it is new."""
        record = self.days.find_one_and_update(
            {"_id": f"{site}|{day}"},
            {"$inc": {"revision": count},
             "$setOnInsert": {"site": site, "local_day": day, "closed": False}},
            projection={"revision": 1}, upsert=True, return_document=ReturnDocument.AFTER)
        if record["revision"] == count and self.is_closed(site, day):  # new here
            self.days.update_one({"_id": record["_id"]}, {"$set": {"closed": True}})
        return record["revision"]

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

    def feedback_between(self, site, first, last, agency=None):
        """The IKM records of ``site`` between two local days (of ``agency`` only, if given)."""
        query = {"site": site, "local_day": {"$gte": first, "$lte": last}}
        if agency is not None:
            query["agency"] = agency
        return list(self.feedback.find(query))

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
        # Every process's running days start again from the new facts.
        self.days.update_many({}, {"$inc": {"epoch": 1}})
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
