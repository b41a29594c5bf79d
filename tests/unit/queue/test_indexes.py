"""Every query the queue makes in a day is served by one of its indexes.

A day runs through the real commands (issue with and without priority, call-next,
recall, start, complete, no-show, cancel, transfer, a crashed transfer finished,
estimates, the overview, closing a past day, the outbox sweep) on a repository whose
collections record each query. Each recorded filter and sort must be served by an
index the repository declares: by ``_id``, or by an index whose leading keys are the
query's fields (so that on MongoDB the plan is an index scan bounded by the query,
never the collection). With ``MONGO_URL`` naming a real MongoDB,
each query's ``explain()`` must also show no collection scan.

mongomock has no query planner, so on it the first check is the one that bites.
"""

import pytest

from antre_devtools.costs import Clock, RecordingDatabase, settle
from services.kernel.infra.mongo import ensure_outbox_index
from services.kernel.infra.outbox import OutboxRelay
from services.queue.commands import QueueCommands
from services.queue.queries import Settings
from services.queue.repository import QueueRepository
from tests.unit.queue.conftest import default_catalog


def fields_of(query):
    """``(equality fields, other fields)`` of a filter, top level (and ``$and``)."""
    equality, other = set(), set()
    for key, value in query.items():
        if key == "$and":
            for part in value:
                e, o = fields_of(part)
                equality |= e
                other |= o
        elif key.startswith("$"):
            other.add(key)
        elif isinstance(value, dict) and any(k.startswith("$") for k in value):
            other.add(key)  # $lt, $in, $ne, $exists, ...: a range of the index
        else:
            equality.add(key)
    return equality, other


def served_by(record, indexes):
    """The index that bounds the query, or None: ``_id``, or an index whose leading keys
    are exactly the filter's fields (in any order). A sort the index does not also give
    is done on that bounded result."""
    equality, other = fields_of(record["filter"])
    if "_id" in equality or set(record["filter"].get("_id") or ()) == {"$in"}:
        return "_id_"  # one key, or a bounded list of keys
    wanted = equality | other
    if not wanted:
        return None
    for name, keys in indexes.items():
        if set(keys[:len(wanted)]) == wanted:
            return name
    return None


@pytest.fixture
def day(database):
    log = []
    raw = database("queue")
    repo = QueueRepository(RecordingDatabase(raw, log))
    repo.ensure_indexes()
    for collection in repo.outbox_collections():
        ensure_outbox_index(collection)
    clock = Clock()
    queue = QueueCommands(repo, default_catalog(), clock, Settings(no_show_after_recalls=1))
    log.clear()  # index building is not a query

    tickets = [queue.issue("KTP-EL", priority="elderly" if i % 4 == 0 else None)[0]
               for i in range(8)]
    queue.issue("AKTA")
    # A booked slot checked in (its own candidate read at call-next and in the console).
    queue.issue("KTP-EL", channel="appointment",
                appointment={"booking": "BK0001", "slot_start": clock.now})
    for code in ("L01", "L02"):
        queue.open_counter(code)
    called = queue.call_next("L01")
    queue.recall(called["_id"], "L01")
    queue.no_show(called["_id"], "L01")
    called = queue.call_next("L01")
    queue.start(called["_id"], "L01")
    queue.complete(called["_id"], "L01")
    called = queue.call_next("L02")
    queue.start(called["_id"], "L02")
    queue.transfer(called["_id"], "L02", "AKTA" if called["service"] != "AKTA" else "KTP-EL")
    queue.cancel(tickets[-1]["ticket_id"], "citizen")
    queue.queries.view(tickets[-2]["ticket_id"])
    queue.queries.overview()
    queue.queries.counter_waiting("L01", 10)
    queue.call_next("L01")
    queue.close_counter("L01")
    queue.repo.finish_pending_legs()
    for site, local_day in queue.repo.live_waiting_days():
        queue.repo.recount_waiting(site, local_day)
    settle(repo)
    repo.list_tickets({"site": "BWI", "local_day": called["local_day"]}, 10, 0)
    clock.advance(days=1)
    queue.close_past_days()
    relay = OutboxRelay(publisher=type("P", (), {"publish": lambda self, entry: None})(),
                        grace_seconds=0)
    for collection in repo.outbox_collections():
        relay.sweep(collection)
    repo.finish_moves()
    clock.advance(seconds=1)
    return log, raw


def test_every_query_of_a_day_is_served_by_an_index(day):
    log, raw = day
    assert len(log) > 50, "the day ran its queries through the recording collections"
    indexes = {}
    for record in log:
        name = record["collection"]
        if name not in indexes:
            indexes[name] = {index: [key for key, _ in info["key"]]
                             for index, info in raw[name].index_information().items()}
    unserved = {(r["collection"], r["op"], repr(sorted(fields_of(r["filter"])[0])),
                 repr(sorted(fields_of(r["filter"])[1])), repr(r["sort"]))
                for r in log if served_by(r, indexes[r["collection"]]) is None}
    assert not unserved, "queries no index serves:\n" + "\n".join(map(str, sorted(unserved)))


def test_on_a_real_mongodb_no_query_of_the_day_scans_its_collection(day):
    log, raw = day
    in_process = type(raw.client).__module__.startswith("mongomock")
    if in_process or "mongomock" in raw.client.server_info().get("version", ""):
        # mongomock (and the system test's wire stand-in over it) has no query planner:
        # the test above checks the same queries against the declared indexes instead.
        pytest.skip("explain() needs a real MongoDB: set MONGO_URL=mongodb://host/")
    for record in log:
        if record["op"] not in ("find", "find_one", "count_documents"):
            continue
        cursor = raw[record["collection"]].find(record["filter"])
        if record["sort"]:
            cursor = cursor.sort([(key, 1) for key in record["sort"]])
        plan = str(cursor.explain()["queryPlanner"]["winningPlan"])
        assert "COLLSCAN" not in plan, (record, plan)


def test_the_check_bites_on_a_query_no_index_serves():
    indexes = {"_id_": ["_id"], "a_1_b_1": ["a", "b"]}
    assert served_by({"filter": {"a": 1, "b": {"$lt": 3}}, "sort": []}, indexes) == "a_1_b_1"
    assert served_by({"filter": {"b": 1}, "sort": []}, indexes) is None
    assert served_by({"filter": {"b": {"$in": [1]}, "a": 2}, "sort": []}, indexes) == "a_1_b_1"
    assert served_by({"filter": {"a": 1, "c": 2}, "sort": []}, indexes) is None
    assert served_by({"filter": {"_id": "x", "v": 3}, "sort": []}, indexes) == "_id_"
    assert served_by({"filter": {}, "sort": []}, indexes) is None
    assert served_by({"filter": {"_id": {"$in": ["x"]}}, "sort": []}, indexes) == "_id_"


def test_what_one_issue_and_one_completion_cost_in_store_operations(database):
    """Issuing reads its estimate's recent service times and its position from the
    write that numbers it, and a completion keeps them there: neither reads the day's
    tickets, nor even the waiting ones."""
    log = []
    repo = QueueRepository(RecordingDatabase(database("queue"), log))
    repo.ensure_indexes()
    queue = QueueCommands(repo, default_catalog(), Clock(), Settings())
    queue.open_counter("L01")
    queue.issue("KTP-EL")
    log.clear()
    queue.issue("KTP-EL")
    assert [(r["collection"], r["op"]) for r in log] == [
        # the number, the recent service times and how many wait ahead
        ("sequences", "find_one_and_update"),
        ("counters", "count_documents"),  # open counters, for the estimate
        ("tickets", "insert_one"),  # the ticket with its event in its outbox
    ]
    called = queue.call_next("L01")
    queue.start(called["_id"], "L01")
    log.clear()
    queue.complete(called["_id"], "L01")
    assert [(r["collection"], r["op"]) for r in log] == [
        ("tickets", "find_one"),  # the ticket as it is
        ("tickets", "find_one_and_update"),  # the transition with its event
        ("sequences", "update_one"),  # its service time, for estimates
    ]
