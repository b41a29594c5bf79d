"""The queue's persistence: tickets, counters, numbering sequences and feedback.

Every state change is one atomic MongoDB write of one document that also appends the
change's events to that document's outbox (see :mod:`services.kernel.outbox`).
Concurrency is handled by the database, so any number of queue replicas may run:

* numbering: ``$inc`` on a per service-and-day sequence (with the daily quota in the
  same filter), so no number is handed out twice;
* transitions: the write is conditional on the ticket's ``version`` (optimistic
  locking), so an event always describes exactly the state written;
* one ticket per counter: a ticket being called or served carries ``active_counter``,
  which has a unique sparse index, so a counter can never hold two tickets and two
  counters can never claim the same ticket (the claim is conditional on ``waiting``).
"""

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from services.kernel.errors import Conflict
from services.kernel.outbox import OUTBOX, outbox_entries
from services.queue import messages
from services.queue.domain import WAITING, InvalidTransition

SOURCE = "/antre/queue"
TICKETS, COUNTERS, SEQUENCES, FEEDBACK = "tickets", "counters", "sequences", "feedback"


class QuotaExhausted(Conflict):
    code = "quota_exhausted"


class CounterBusy(Conflict):
    code = "counter_busy"


class QueueRepository:
    def __init__(self, db, source=SOURCE):
        self.db = db
        self.source = source
        self.tickets = db[TICKETS]
        self.counters = db[COUNTERS]
        self.sequences = db[SEQUENCES]
        self.feedback = db[FEEDBACK]

    # Indexes earlier versions made that a query of today's no longer uses.
    SUPERSEDED_INDEXES = {"tickets": ("site_1_local_day_1_status_1_service_1_queue_key_1",
                                      "service_1_status_1_ended_at_-1"),
                          "counters": ("site_1_state_1",)}

    def ensure_indexes(self):
        # Call-next, positions and the overview: the priority is part of every waiting
        # query, so a counter reads the head of one class, never the whole backlog.
        self.tickets.create_index([("site", ASCENDING), ("local_day", ASCENDING),
                                   ("status", ASCENDING), ("priority", ASCENDING),
                                   ("service", ASCENDING), ("queue_key", ASCENDING)])
        # The past-days check: which sites still have waiting tickets, and which.
        self.tickets.create_index([("status", ASCENDING), ("site", ASCENDING),
                                   ("local_day", ASCENDING)])
        self.tickets.create_index([("active_counter", ASCENDING)], unique=True, sparse=True)
        self.tickets.create_index([("visit_id", ASCENDING)])
        self.tickets.create_index([("pending_leg._id", ASCENDING)], sparse=True)
        self.counters.create_index([("site", ASCENDING), ("state", ASCENDING),
                                    ("services", ASCENDING)])
        self.sequences.create_index([("site", ASCENDING), ("local_day", ASCENDING)])
        for collection, names in self.SUPERSEDED_INDEXES.items():
            existing = set(self.db[collection].index_information())
            for name in names:
                if name in existing:
                    self.db[collection].drop_index(name)

    def outbox_collections(self):
        return [self.tickets, self.counters, self.feedback]

    def _outbox(self, events):
        return outbox_entries(events, self.source)

    # -- numbering ----------------------------------------------------------------------

    def next_number(self, site, service, local_day, quota=None, arrival=True):
        """The next ticket number of ``service`` on ``local_day``.

        Arrivals count against the daily ``quota`` (None: unlimited). Transfers in are
        not arrivals (``arrival=False``): they get a number but never hit the quota.
        """
        return self.next_in_sequence(site, service, local_day, quota, arrival)["value"]

    def next_in_sequence(self, site, service, local_day, quota=None, arrival=True):
        """:meth:`next_number`, as the whole sequence document of the service's day
        (``value``, ``issued``, ``recent_service``): an issue learns the recent service
        times for its estimate from the write that numbers it."""
        key = f"{site}|{service}|{local_day}"
        update = {"$inc": {"value": 1, "issued": 1 if arrival else 0},
                  "$setOnInsert": {"site": site, "service": service, "local_day": local_day}}
        query = {"_id": key}
        if arrival and quota is not None:
            query["issued"] = {"$lt": quota}
        try:
            doc = self.sequences.find_one_and_update(
                query, update, upsert=True, return_document=ReturnDocument.AFTER)
        except DuplicateKeyError:
            # The sequence exists but its filter did not match: the quota is used up.
            raise QuotaExhausted(
                f"Kuota harian layanan ini ({quota} antrean) sudah habis. Silakan datang "
                f"kembali pada hari layanan berikutnya.",
                service=service, local_day=local_day, quota=quota) from None
        return doc

    def issued_on(self, site, local_day):
        """{service: tickets issued (not counting transfers in)} for one site and day."""
        found = self.sequences.find({"site": site, "local_day": local_day})
        return {doc["service"]: doc.get("issued", 0) for doc in found}

    # -- tickets ------------------------------------------------------------------------

    def insert_ticket(self, ticket, events):
        self.tickets.insert_one({**ticket, "version": 1, OUTBOX: self._outbox(events)})

    def ticket(self, ticket_id):
        return self.tickets.find_one({"_id": ticket_id}, {OUTBOX: 0, "pending_leg": 0})

    def update_ticket(self, ticket, action, changes, events, unset=(), extra_filter=None):
        """Apply ``changes`` to ``ticket`` if nobody changed it since it was read.

        Returns the ticket as written; raises :class:`InvalidTransition` naming the
        current status when the ticket moved on meanwhile.
        """
        update = {"$set": changes, "$inc": {"version": 1},
                  "$push": {OUTBOX: {"$each": self._outbox(events)}}}
        if unset:
            update["$unset"] = {name: "" for name in unset}
        query = {"_id": ticket["_id"], "version": ticket["version"], **(extra_filter or {})}
        try:
            written = self.tickets.find_one_and_update(
                query, update, projection={OUTBOX: 0, "pending_leg": 0},
                return_document=ReturnDocument.AFTER)
        except DuplicateKeyError:
            raise CounterBusy(
                f"Loket {changes.get('active_counter')} sudah memegang tiket yang dipanggil "
                f"atau sedang dilayani.", counter=changes.get("active_counter")) from None
        if written is None:
            current = self.ticket(ticket["_id"]) or {"status": "gone", "ticket_number": "?"}
            raise InvalidTransition(
                f"Tiket {current['ticket_number']} baru saja berubah: statusnya "
                f"{messages.status(current['status'])}.", ticket_id=ticket["_id"],
                status=current["status"],
                action=action)
        return written

    def oldest_waiting(self, site, services, local_day, priority):
        query = {"site": site, "local_day": local_day, "status": WAITING,
                 "service": {"$in": list(services)},
                 "priority": {"$ne": None} if priority else None}
        found = self.tickets.find(query, {OUTBOX: 0}).sort("queue_key", ASCENDING).limit(1)
        return next(iter(found), None)

    def count_ahead(self, ticket):
        """Waiting tickets of the same service that would be called before ``ticket``."""
        base = {"site": ticket["site"], "local_day": ticket["local_day"], "status": WAITING,
                "service": ticket["service"]}
        earlier = {**base, "queue_key": {"$lt": ticket["queue_key"]}}
        if ticket.get("priority"):
            return self.tickets.count_documents({**earlier, "priority": {"$ne": None}})
        return (self.tickets.count_documents({**base, "priority": {"$ne": None}})
                + self.tickets.count_documents({**earlier, "priority": None}))

    def sites_with_waiting(self):
        return self.tickets.distinct("site", {"status": WAITING})

    def waiting_before(self, site, local_day, limit=1000):
        return list(self.tickets.find(
            {"site": site, "status": WAITING, "local_day": {"$lt": local_day}},
            {OUTBOX: 0, "pending_leg": 0}).limit(limit))

    def count_waiting(self, site, service, local_day):
        return self.tickets.count_documents(
            {"site": site, "local_day": local_day, "status": WAITING, "service": service})

    def record_service_seconds(self, site, service, local_day, seconds, keep):
        """Remember a completed service's duration in its day's sequence (the last
        ``keep``), for estimates: one short list per service and day, never a scan of
        the day's tickets. (Lost if the process dies right after the completion: an
        estimate then averages one service fewer.)"""
        self.sequences.update_one({"_id": f"{site}|{service}|{local_day}"},
                                  {"$push": {"recent_service": {"$each": [seconds],
                                                                "$slice": -keep}}})

    def recent_service_seconds(self, site, service, local_day, limit, sequence=None):
        """The last ``limit`` service durations of the day, newest first; from
        ``sequence`` (the day's sequence document) when the caller has it."""
        if sequence is None:
            sequence = self.sequences.find_one({"_id": f"{site}|{service}|{local_day}"},
                                               {"recent_service": 1}) or {}
        return list(reversed(sequence.get("recent_service") or []))[:limit]

    def active_ticket_of(self, counter):
        return self.tickets.find_one({"active_counter": counter}, {OUTBOX: 0, "pending_leg": 0})

    def tickets_of_day(self, site, local_day, projection=None):
        return self.tickets.find({"site": site, "local_day": local_day},
                                 projection or {OUTBOX: 0, "pending_leg": 0})

    def list_tickets(self, query, limit, offset):
        total = self.tickets.count_documents(query)
        found = (self.tickets.find(query, {OUTBOX: 0, "pending_leg": 0, "secret_hash": 0})
                 .sort("queue_key", ASCENDING).skip(offset).limit(limit))
        return list(found), total

    # -- transfers: the new leg is written with the old one, then inserted --------------

    def finish_pending_legs(self, limit=100):
        """Insert every new leg that a transfer recorded but did not insert yet."""
        done = 0
        # On the field the sparse index holds, so the check every sweep reads the index.
        for old in self.tickets.find({"pending_leg._id": {"$exists": True}}, {"pending_leg": 1}) \
                .limit(limit):
            leg = old["pending_leg"]
            try:
                self.tickets.insert_one(leg)
            except DuplicateKeyError:
                pass  # inserted before a crash: nothing left to do but clear the marker
            self.tickets.update_one({"_id": old["_id"]}, {"$unset": {"pending_leg": ""}})
            done += 1
        return done

    def pending_leg_document(self, ticket, events):
        return {**ticket, "version": 1, OUTBOX: self._outbox(events)}

    # -- counters -----------------------------------------------------------------------

    def counter(self, code):
        return self.counters.find_one({"_id": code}, {OUTBOX: 0})

    def save_counter(self, counter, changes, events, expected_version):
        """Write a counter's new state if nobody changed it since it was read."""
        update = {"$set": changes, "$inc": {"version": 1},
                  "$push": {OUTBOX: {"$each": self._outbox(events)}}}
        if expected_version is None:
            update["$setOnInsert"] = {"_id": counter["_id"]}
            query = {"_id": counter["_id"], "version": {"$exists": False}}
        else:
            query = {"_id": counter["_id"], "version": expected_version}
        try:
            written = self.counters.find_one_and_update(
                query, update, upsert=expected_version is None,
                projection={OUTBOX: 0}, return_document=ReturnDocument.AFTER)
        except DuplicateKeyError:
            written = None
        if written is None:
            raise Conflict(f"Loket {counter['_id']} baru saja berubah; coba lagi.",
                           counter=counter["_id"])
        return written

    def set_streak(self, code, streak):
        self.counters.update_one({"_id": code}, {"$set": {"priority_streak": streak}})

    def open_counters_serving(self, site, service):
        return self.counters.count_documents({"site": site, "state": "open", "services": service})

    def counters_of_site(self, site):
        return list(self.counters.find({"site": site}, {OUTBOX: 0}).sort("_id", ASCENDING))

    # -- feedback -----------------------------------------------------------------------

    def insert_feedback(self, feedback, events):
        try:
            self.feedback.insert_one({**feedback, OUTBOX: self._outbox(events)})
        except DuplicateKeyError:
            raise Conflict("Survei untuk tiket ini sudah diisi.",
                           ticket_id=feedback["_id"]) from None
