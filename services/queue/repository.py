"""The queue's persistence: tickets, counters, numbering sequences and feedback.

Every state change is one atomic MongoDB write of one document that also appends the
change's events to that document's outbox (see :mod:`services.kernel.infra.outbox`).
Concurrency is handled by the database, so any number of queue replicas may run:

* numbering: ``$inc`` on a per service-and-day sequence (with the daily quota in the
  same filter), so no number is handed out twice;
* transitions: the write is conditional on the ticket's ``version`` (optimistic
  locking), so an event always describes exactly the state written;
* one ticket per counter: a ticket being called or served carries ``active_counter``,
  which has a unique sparse index, so a counter can never hold two tickets and two
  counters can never claim the same ticket (the claim is conditional on ``waiting``).

Live and ended tickets are kept apart, so that no request costs more as the day grows:
``tickets`` holds the tickets that are waiting, called or being served (what call-next,
positions and the overview read), and a ticket that ended moves to ``tickets_ended``
once its events are published. The end is written in ``tickets`` first (that write is
the state change); the move copies the ended ticket, then deletes the live copy, and
:meth:`QueueRepository.finish_moves` completes a move a crash interrupted. A ticket is
read from ``tickets`` first, so the copy in ``tickets`` always wins while both exist.
"""

import copy
from dataclasses import dataclass

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from services.kernel.errors import Conflict
from services.kernel.infra import ratelimit
from services.kernel.infra.mongo import Collection
from services.kernel.infra.outbox import OUTBOX, outbox_entries
from services.queue import messages
from services.queue.domain import (
    APPOINTMENT_CHANNEL,
    CANCELLED,
    COMPLETED,
    ENDED,
    WAITING,
    InvalidTransition,
)

SOURCE = "/antre/queue"
TICKETS, ENDED_TICKETS = "tickets", "tickets_ended"
COUNTERS, SEQUENCES, FEEDBACK = "counters", "sequences", "feedback"
# What a write returns of a ticket: everything but the bulky parts of its outbox (the
# ids stay, so the caller knows whether events other than its own are still pending).
WRITTEN = {f"{OUTBOX}.envelope": 0, f"{OUTBOX}.queued_at": 0, "pending_leg": 0}
READ = {OUTBOX: 0, "pending_leg": 0}


class QuotaExhausted(Conflict):
    code = "quota_exhausted"


class CounterBusy(Conflict):
    code = "counter_busy"


def waiting_class(priority):
    return "priority" if priority else "regular"


@dataclass
class Written:
    """Events one write added to one document's outbox, for the relay to publish.

    ``ended`` is the ticket as written when the write ended it and no older event of
    it is pending: once ``entries`` are published, the ticket can leave the live
    collection."""

    collection: object
    doc_id: object
    entries: list
    ended: dict = None


def _sequence_of(ticket):
    return {"_id": f"{ticket['site']}|{ticket['service']}|{ticket['local_day']}"}


def _update_or_refuse(collection, query, update, refusal, **options):
    """``find_one_and_update`` where a clash on a unique index is a domain refusal:
    raises ``refusal()`` instead of pymongo's ``DuplicateKeyError``."""
    try:
        return collection.find_one_and_update(query, update, **options)
    except DuplicateKeyError:
        raise refusal() from None


class QueueRepository:
    """The queue's store. Each request gets its own (:meth:`for_request`), which keeps
    in :attr:`written` the outbox entries its writes added: the relay publishes those
    from memory, without reading the documents back."""

    tickets = Collection(TICKETS)
    ended = Collection(ENDED_TICKETS)
    counters = Collection(COUNTERS)
    sequences = Collection(SEQUENCES)
    feedback = Collection(FEEDBACK)
    # Anonymous web issuing: one document per limit, key and window (expired by TTL).
    rate_limits = Collection("rate_limits")

    def __init__(self, db, source=SOURCE):
        self.db = db
        self.source = source
        self.written = []

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
        # Call-next and the console: the head of the waiting appointments (regular ones;
        # a priority one is in the priority lane), whatever the number of walk-ins. On
        # MongoDB only appointment tickets are in it (partial); the embedded store keeps
        # it whole, which serves the same queries.
        self.tickets.create_index([("site", ASCENDING), ("local_day", ASCENDING),
                                   ("status", ASCENDING), ("channel", ASCENDING),
                                   ("priority", ASCENDING), ("service", ASCENDING),
                                   ("queue_key", ASCENDING)], name="appointments_waiting",
                                  partialFilterExpression={"channel": APPOINTMENT_CHANNEL})
        # The past-days check: which sites still have waiting tickets, and which.
        self.tickets.create_index([("status", ASCENDING), ("site", ASCENDING),
                                   ("local_day", ASCENDING)])
        self.tickets.create_index([("active_counter", ASCENDING)], unique=True, sparse=True)
        self.tickets.create_index([("visit_id", ASCENDING)])
        self.tickets.create_index([("pending_leg._id", ASCENDING)], sparse=True)
        self.counters.create_index([("site", ASCENDING), ("state", ASCENDING),
                                    ("services", ASCENDING)])
        self.sequences.create_index([("site", ASCENDING), ("local_day", ASCENDING)])
        # Ended tickets are read by id, by visit and in staff lists of a day.
        self.ended.create_index([("visit_id", ASCENDING)])
        self.ended.create_index([("site", ASCENDING), ("local_day", ASCENDING),
                                 ("queue_key", ASCENDING)])
        self.ended.create_index([("agency", ASCENDING), ("local_day", ASCENDING),
                                 ("queue_key", ASCENDING)])
        self.rate_limits.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0)
        for collection, names in self.SUPERSEDED_INDEXES.items():
            existing = set(self.db[collection].index_information())
            for name in names:
                if name in existing:
                    self.db[collection].drop_index(name)

    def for_request(self):
        clone = copy.copy(self)
        clone.written = []
        return clone

    def published(self, change):
        """``change``'s entries are on the broker: take them out of the outbox (or move
        the ended ticket, which takes its outbox with it)."""
        if change.ended is not None and self._move(change.ended):
            return
        ids = [entry["id"] for entry in change.entries]
        change.collection.update_one({"_id": change.doc_id},
                                     {"$pull": {OUTBOX: {"id": {"$in": ids}}}})

    def _wrote(self, collection, doc_id, entries, ended=None):
        if entries:
            self.written.append(Written(collection, doc_id, entries, ended))

    def outbox_collections(self):
        # Ended tickets leave ``tickets`` only with an empty outbox: none in tickets_ended.
        return [self.tickets, self.counters, self.feedback]

    def _outbox(self, events):
        return outbox_entries(events, self.source)

    # -- limits -------------------------------------------------------------------------

    def take_request(self, key, start, end, max_requests):
        """Count one request of ``key`` in the window ``[start, end)`` unless
        ``max_requests`` are counted already (then False), for every process of the queue."""
        return ratelimit.take(self.rate_limits, key, start, end, max_requests)

    def give_back_request(self, key, start):
        ratelimit.give_back(self.rate_limits, key, start)

    # -- numbering ----------------------------------------------------------------------

    def next_number(self, site, service, local_day, quota=None, arrival=True, priority=None):
        """The next ticket number of ``service`` on ``local_day``.

        Arrivals count against the daily ``quota`` (None: unlimited). Transfers in are
        not arrivals (``arrival=False``): they get a number but never hit the quota.
        """
        return self.next_in_sequence(site, service, local_day, quota, arrival,
                                     priority)["value"]

    def next_in_sequence(self, site, service, local_day, quota=None, arrival=True,
                         priority=None):
        """:meth:`next_number`, as the whole sequence document of the service's day
        (``value``, ``issued``, ``recent_service``, ``waiting``): an issue learns the
        recent service times for its estimate, and how many wait ahead of it, from the
        write that numbers it. The new ticket is counted as waiting in its class
        (``priority`` or not)."""
        key = f"{site}|{service}|{local_day}"
        update = {"$inc": {"value": 1, "issued": 1 if arrival else 0,
                           f"waiting.{waiting_class(priority)}": 1},
                  "$setOnInsert": {"site": site, "service": service, "local_day": local_day}}
        query = {"_id": key}
        if arrival and quota is not None:
            query["issued"] = {"$lt": quota}
        # Upserting when the sequence exists but its filter does not match clashes on
        # ``_id``: the quota is used up.
        return _update_or_refuse(self.sequences, query, update, lambda: QuotaExhausted(
            f"Kuota harian layanan ini ({quota} antrean) sudah habis. Silakan datang "
            f"kembali pada hari layanan berikutnya.",
            service=service, local_day=local_day, quota=quota),
            upsert=True, return_document=ReturnDocument.AFTER)

    def sequences_of(self, site, local_day):
        """{service: its sequence of the day} (``issued`` arrivals, ``waits`` of the
        ended tickets, ``recent_service``) for one site and day."""
        found = self.sequences.find({"site": site, "local_day": local_day})
        return {doc["service"]: doc for doc in found}

    # -- tickets ------------------------------------------------------------------------

    def insert_ticket(self, ticket, events):
        entries = self._outbox(events)
        self.tickets.insert_one({**ticket, "version": 1, OUTBOX: entries})
        self._wrote(self.tickets, ticket["_id"], entries)

    def ticket(self, ticket_id):
        """A ticket, live or ended (the live copy wins while a move is under way)."""
        return (self.tickets.find_one({"_id": ticket_id}, READ)
                or self.ended.find_one({"_id": ticket_id}, READ))

    def live_tickets_by_id(self, ticket_ids):
        """The live tickets (waiting, called, served) among ``ticket_ids``, in one read."""
        return list(self.tickets.find({"_id": {"$in": list(ticket_ids)}}, READ))

    def update_ticket(self, ticket, action, changes, events, unset=(), extra_filter=None):
        """Apply ``changes`` to ``ticket`` if nobody changed it since it was read.

        Returns the ticket as written; raises :class:`InvalidTransition` naming the
        current status when the ticket moved on meanwhile. Only live tickets change: an
        ended one has no transition left.
        """
        entries = self._outbox(events)
        update = {"$set": changes, "$inc": {"version": 1},
                  "$push": {OUTBOX: {"$each": entries}}}
        if unset:
            update["$unset"] = {name: "" for name in unset}
        query = {"_id": ticket["_id"], "version": ticket["version"], **(extra_filter or {})}
        written = _update_or_refuse(self.tickets, query, update, lambda: CounterBusy(
            f"Loket {changes.get('active_counter')} sudah memegang tiket yang dipanggil "
            f"atau sedang dilayani.", counter=changes.get("active_counter")),
            projection=WRITTEN, return_document=ReturnDocument.AFTER)
        if written is None:
            current = self.ticket(ticket["_id"]) or {"status": "gone", "ticket_number": "?"}
            raise InvalidTransition(
                f"Tiket {current['ticket_number']} baru saja berubah: statusnya "
                f"{messages.status(current['status'])}.", ticket_id=ticket["_id"],
                status=current["status"],
                action=action)
        pending = written.pop(OUTBOX, None) or []
        mine = {entry["id"] for entry in entries}
        ended = (written if written["status"] in ENDED
                 and all(entry["id"] in mine for entry in pending) else None)
        self._wrote(self.tickets, written["_id"], entries, ended)
        return written

    # -- moving ended tickets out of the live collection -------------------------------

    def _move(self, document):
        """Copy an ended ticket to ``tickets_ended``, then delete its live copy: only the
        version copied, only with nothing left to publish or to insert. False when the
        live copy stays (the sweep's :meth:`finish_moves` moves it later)."""
        try:
            self.ended.insert_one(document)
        except DuplicateKeyError:
            pass  # copied before a crash; the live copy is the same ended state
        deleted = self.tickets.delete_one({"_id": document["_id"], "version": document["version"],
                                           "pending_leg": {"$exists": False}})
        return deleted.deleted_count == 1

    def finish_moves(self, limit=200):
        """Move the ended tickets left in ``tickets`` whose events are all published
        (few: a move is left only by a crash or a failed publish)."""
        moved = 0
        for document in self.tickets.find({"status": {"$in": list(ENDED)}}).limit(limit):
            if not document.get(OUTBOX) and "pending_leg" not in document:
                moved += self._move({k: v for k, v in document.items() if k != OUTBOX})
        return moved

    @staticmethod
    def _waiting_query(site, services, local_day, priority, appointments=False):
        query = {"site": site, "local_day": local_day, "status": WAITING,
                 "service": {"$in": list(services)},
                 "priority": {"$ne": None} if priority else None}
        if appointments:  # the regular tickets with an appointment
            query["channel"] = APPOINTMENT_CHANNEL
        return query

    # What call-next needs of a lane's head to choose between lanes (domain.call_order).
    HEAD = {"_id": 1, "queue_key": 1, "priority": 1, "appointment": 1}
    LANES = ({"priority": True}, {"priority": False},
             {"priority": False, "appointments": True})

    def waiting_heads(self, site, services, local_day):
        """The oldest waiting ticket (lowest ``queue_key``) of each lane of ``services``:
        priority, regular, and regular with an appointment (of which, the oldest is the
        first whose slot time came, if any came: its key is ``max(issued_at,
        slot_start)``). Only what choosing needs (:attr:`HEAD`); one index entry each,
        whatever the size of the day. The same ticket may head two lanes."""
        heads = []
        for lane in self.LANES:
            query = self._waiting_query(site, services, local_day, **lane)
            heads += self.tickets.find(query, self.HEAD).sort("queue_key", ASCENDING).limit(1)
        return list({head["_id"]: head for head in heads}.values())

    def live_ticket(self, ticket_id):
        """A live ticket by id (None once it ended and moved)."""
        return self.tickets.find_one({"_id": ticket_id}, READ)

    def first_waiting(self, site, services, local_day, priority, limit, appointments=False,
                      count=True):
        """The first ``limit`` waiting tickets of one lane (priority or not; with
        ``appointments``, the regular ones with an appointment) of ``services``, oldest
        first (on the call-next index), and how many wait in it (None without ``count``)."""
        query = self._waiting_query(site, services, local_day, priority, appointments)
        first = list(self.tickets.find(query, {**READ, "secret_hash": 0})
                     .sort("queue_key", ASCENDING).limit(limit))
        if not count:
            return first, None
        total = len(first) if len(first) < limit else self.tickets.count_documents(query)
        return first, total

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

    def record_end(self, ticket, keep):
        """Remember what the overview and estimates need of a ticket that ended, in its
        day's sequence: its wait (when it was called), when it was served to the end
        its service time (the last ``keep``), and when it ended while waiting (cancelled)
        one waiting ticket fewer. One small document per service and day, never a scan
        of the day's tickets. (Lost if the process dies right after the end: the day's
        average then lacks one ticket; :meth:`recount_waiting` corrects the count.)"""
        update = {}
        if ticket.get("waiting_seconds") is not None:
            update["$inc"] = {"waits.count": 1, "waits.seconds": ticket["waiting_seconds"]}
        if ticket["status"] == CANCELLED:
            update.setdefault("$inc", {})[f"waiting.{waiting_class(ticket.get('priority'))}"] = -1
        if ticket["status"] == COMPLETED and ticket.get("service_seconds") is not None:
            update["$push"] = {"recent_service": {"$each": [ticket["service_seconds"]],
                                                  "$slice": -keep}}
        if update:
            self.sequences.update_one(_sequence_of(ticket), update)

    def count_waiting_change(self, ticket, delta):
        """A ticket left (-1) or re-entered (+1) the waiting line outside issuing."""
        self.sequences.update_one(
            _sequence_of(ticket),
            {"$inc": {f"waiting.{waiting_class(ticket.get('priority'))}": delta}})

    def live_waiting_days(self):
        """``(site, local_day)`` of every day that still has waiting tickets (on the
        index ``status, site, local_day``: one distinct per site)."""
        return [(site, day) for site in self.sites_with_waiting()
                for day in self.tickets.distinct("local_day", {"status": WAITING, "site": site})]

    def recount_waiting(self, site, local_day):
        """Set one day's waiting counts from its live tickets: a count a crash left wrong
        (a write of the ticket without the write of its count) is right again. Two
        counts per service, each on the call-next index (site, day, status, priority,
        service); nothing is read but what the count needs. Returns how many service
        counts were corrected."""
        fixed = 0
        for service, sequence in self.sequences_of(site, local_day).items():
            base = {"site": site, "local_day": local_day, "status": WAITING, "service": service}
            right = {"priority": self.tickets.count_documents({**base, "priority": {"$ne": None}}),
                     "regular": self.tickets.count_documents({**base, "priority": None})}
            if (sequence.get("waiting") or {}) != right:
                self.sequences.update_one({"_id": sequence["_id"]}, {"$set": {"waiting": right}})
                fixed += 1
        return fixed

    def recent_service_seconds(self, site, service, local_day, limit, sequence=None):
        """The last ``limit`` service durations of the day, newest first; from
        ``sequence`` (the day's sequence document) when the caller has it."""
        if sequence is None:
            sequence = self.sequences.find_one({"_id": f"{site}|{service}|{local_day}"},
                                               {"recent_service": 1}) or {}
        return list(reversed(sequence.get("recent_service") or []))[:limit]

    def active_ticket_of(self, counter):
        return self.tickets.find_one({"active_counter": counter}, READ)

    def live_tickets(self, site, local_day, projection=None):
        """The site's waiting, called and served tickets of the day (never the ended)."""
        return self.tickets.find({"site": site, "local_day": local_day,
                                  "status": {"$nin": list(ENDED)}}, projection or READ)

    def list_tickets(self, query, limit, offset):
        """A page of tickets, live and ended, in queue order, and how many match.

        A ticket in the middle of its move is in both collections: it is listed and
        counted once (the live copy wins)."""
        hidden = {OUTBOX: 0, "pending_leg": 0, "secret_hash": 0}
        live = {doc["_id"]: doc for doc in self.tickets.find(query, hidden)}  # bounded
        both = {doc["_id"] for doc in self.ended.find({"_id": {"$in": list(live)}}, {"_id": 1})}
        page = {doc["_id"]: doc for doc in self.ended.find(query, hidden)
                .sort("queue_key", ASCENDING).limit(offset + limit + len(both))}
        page.update(live)
        total = len(live) + self.ended.count_documents(query) - len(both)
        ordered = sorted(page.values(), key=lambda doc: doc["queue_key"])
        return ordered[offset:offset + limit], total

    # -- transfers: the new leg is written with the old one, then inserted --------------

    def finish_pending_legs(self, limit=100):
        """Insert every new leg that a transfer recorded but did not insert yet."""
        done = 0
        # On the field the sparse index holds, so the check every sweep reads the index.
        for old in self.tickets.find({"pending_leg._id": {"$exists": True}}, {"pending_leg": 1}) \
                .limit(limit):
            self.insert_pending_leg(old["_id"], old["pending_leg"])
            done += 1
        return done

    def insert_pending_leg(self, old_id, leg):
        """Insert the new leg that the transfer of ``old_id`` recorded, then clear the
        record (an insert a crash interrupted is finished by :meth:`finish_pending_legs`)."""
        try:
            self.tickets.insert_one(leg)
            self._wrote(self.tickets, leg["_id"], leg[OUTBOX])
        except DuplicateKeyError:
            pass  # inserted before a crash: nothing left to do but clear the marker
        self.tickets.update_one({"_id": old_id}, {"$unset": {"pending_leg": ""}})

    def pending_leg_document(self, ticket, events):
        return {**ticket, "version": 1, OUTBOX: self._outbox(events)}

    # -- counters -----------------------------------------------------------------------

    def counter(self, code):
        return self.counters.find_one({"_id": code}, {OUTBOX: 0})

    def save_counter(self, counter, changes, events, expected_version):
        """Write a counter's new state if nobody changed it since it was read."""
        entries = self._outbox(events)
        update = {"$set": changes, "$inc": {"version": 1},
                  "$push": {OUTBOX: {"$each": entries}}}
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
        self._wrote(self.counters, counter["_id"], entries)
        return written

    def set_streak(self, code, streak):
        self.counters.update_one({"_id": code}, {"$set": {"priority_streak": streak}})

    def open_counters_serving(self, site, service):
        return self.counters.count_documents({"site": site, "state": "open", "services": service})

    def counters_of_site(self, site):
        return list(self.counters.find({"site": site}, {OUTBOX: 0}).sort("_id", ASCENDING))

    # -- feedback -----------------------------------------------------------------------

    def insert_feedback(self, feedback, events):
        entries = self._outbox(events)
        try:
            self.feedback.insert_one({**feedback, OUTBOX: entries})
        except DuplicateKeyError:
            raise Conflict("Survei untuk tiket ini sudah diisi.",
                           ticket_id=feedback["_id"]) from None
        self._wrote(self.feedback, feedback["_id"], entries)
