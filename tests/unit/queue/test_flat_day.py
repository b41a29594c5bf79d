"""A request costs the same whether the day has seen a thousand tickets or a hundred
thousand: live and ended tickets are kept apart, and ended tickets are only ever read by
their id (or by a page of a staff list).

The cost is counted, not timed: the store operations each request makes (any backend),
and, on the embedded store, the documents it examines to answer them (mongomock has no
indexes, so that count is what its time grows with). On a real MongoDB the operations are
the same and each is served by an index (``test_indexes.py``).
"""

import pytest

from antre_devtools.costs import (
    WAITING_NOW,
    Clock,
    ExaminedDocuments,
    RecordingDatabase,
    cost_of_a_ticket_life,
    hall_that_has_seen,
    settle,
)
from services.kernel.contract import contract
from services.queue.commands import QueueCommands
from services.queue.queries import Settings
from services.queue.repository import QueueRepository
from tests.unit.queue.conftest import default_catalog


@pytest.fixture
def examined(mongo_url, monkeypatch):
    return ExaminedDocuments(monkeypatch.setattr) if mongo_url.startswith("mongomock") else None


def test_a_ticket_costs_the_same_after_a_hundred_thousand_as_after_a_thousand(
        database, examined):
    small = cost_of_a_ticket_life(*hall_that_has_seen(database, 1_000, "small_",
                                                      default_catalog()), examined)
    large = cost_of_a_ticket_life(*hall_that_has_seen(database, 100_000, "large_",
                                                      default_catalog()), examined)
    assert list(small) == ["issue", "view a waiting ticket", "call-next", "start", "complete",
                           "view an ended ticket", "overview"]
    for request in small:
        assert large[request] == small[request], request
    # And the costs are small: what one request does, at any size of the day.
    issue_ops, issue_examined = small["issue"]
    assert len(issue_ops) <= 7, issue_ops
    call_ops, _ = small["call-next"]
    # The head of each of three lanes (priority, regular, appointments: one index entry
    # each) and the one picked: four reads, whichever lanes are empty.
    assert len(call_ops) <= 10, call_ops
    if examined:  # the embedded store examines the live backlog at most, a few times
        assert issue_examined <= 4 * (WAITING_NOW + 2), issue_examined
        for request, (_ops, documents) in small.items():
            assert documents <= 6 * (WAITING_NOW + 2), (request, documents)


def test_the_check_bites_when_a_request_reads_the_ended_tickets(database, examined):
    """The same measure tells a request that scans the day apart from one that does not."""
    sizes = {}
    for ended, prefix in ((1_000, "a_"), (5_000, "b_")):
        queue, repo, log = hall_that_has_seen(database, ended, prefix, default_catalog())
        log.clear()
        before = examined.count if examined else 0
        list(repo.ended.find({"site": "BWI", "status": "completed"}))  # a day's scan
        sizes[ended] = ((examined.count - before) if examined else None, len(log))
    if examined:
        assert sizes[5_000][0] > sizes[1_000][0]
    assert sizes[5_000][1] == sizes[1_000][1] == 1  # one operation either way


# -- the move of an ended ticket ------------------------------------------------------


@pytest.fixture
def hall(database):
    repo = QueueRepository(database("queue"))
    repo.ensure_indexes()
    clock = Clock()
    queue = QueueCommands(repo, default_catalog(), clock, Settings())
    queue.open_counter("L01")
    settle(repo)
    return queue, repo


def served(queue, repo):
    ticket, _secret = queue.issue("KTP-EL")
    queue.call_next("L01")
    queue.start(ticket["ticket_id"], "L01")
    settle(repo)
    queue.complete(ticket["ticket_id"], "L01")
    return ticket["ticket_id"]


def test_a_ticket_leaves_the_live_collection_once_its_events_are_published(hall):
    queue, repo = hall
    ticket_id = served(queue, repo)
    assert repo.tickets.count_documents({"_id": ticket_id}) == 1  # not before the publish
    settle(repo)
    assert repo.tickets.count_documents({}) == 0
    assert repo.ended.find_one({"_id": ticket_id})["status"] == "completed"
    assert "outbox" not in repo.ended.find_one({"_id": ticket_id})
    assert queue.queries.view(ticket_id)["status"] == "completed"
    items, total = repo.list_tickets({"site": "BWI"}, 10, 0)
    assert total == 1 and [t["_id"] for t in items] == [ticket_id]


def test_a_failed_publish_keeps_the_ticket_live_until_the_sweep_published_it(hall):
    queue, repo = hall
    ticket_id = served(queue, repo)
    repo.written.clear()  # the publish failed: the events stay in the outbox
    assert repo.finish_moves() == 0  # nothing moves with events pending
    assert repo.tickets.find_one({"_id": ticket_id})["outbox"]
    repo.tickets.update_many({}, {"$set": {"outbox": []}})  # the sweep published them
    assert repo.finish_moves() == 1
    assert repo.ticket(ticket_id)["status"] == "completed"
    assert repo.tickets.count_documents({}) == 0


def test_a_move_interrupted_between_copy_and_delete_is_finished_and_counted_once(hall):
    queue, repo = hall
    ticket_id = served(queue, repo)
    repo.tickets.update_one({"_id": ticket_id}, {"$set": {"outbox": []}})
    document = repo.tickets.find_one({"_id": ticket_id}, {"outbox": 0})
    repo.ended.insert_one(document)  # the copy was made, then the process died
    assert repo.ticket(ticket_id)["status"] == "completed"
    items, total = repo.list_tickets({"site": "BWI"}, 10, 0)
    assert total == 1 and len(items) == 1
    assert repo.finish_moves() == 1
    assert repo.tickets.count_documents({}) == 0 and repo.ended.count_documents({}) == 1


def test_an_ended_ticket_with_a_leg_still_to_insert_stays_until_the_leg_is_in(hall):
    queue, repo = hall
    ticket, _secret = queue.issue("KTP-EL")
    queue.call_next("L01")
    queue.start(ticket["ticket_id"], "L01")
    settle(repo)

    def crash(*_):  # the process dies after the transfer's write
        raise RuntimeError("crash")

    repo.insert_pending_leg = crash
    with pytest.raises(RuntimeError):
        queue.transfer(ticket["ticket_id"], "L01", "AKTA")
    del repo.insert_pending_leg
    settle(repo)
    assert repo.tickets.find_one({"_id": ticket["ticket_id"]})["status"] == "transferred"
    assert repo.finish_pending_legs() == 1
    settle(repo)
    assert repo.finish_moves() == 1
    assert repo.ticket(ticket["ticket_id"])["status"] == "transferred"
    assert [t["status"] for t in repo.tickets.find()] == ["waiting"]  # the new leg


# -- positions from the day's counts --------------------------------------------------


def test_positions_at_issue_follow_calls_cancels_returns_and_priority(hall):
    queue, repo = hall
    positions = [queue.issue("KTP-EL")[0]["position"] for _ in range(3)]
    assert positions == [1, 2, 3]
    elderly, _ = queue.issue("KTP-EL", priority="elderly")
    assert elderly["position"] == 1  # priority tickets are called first
    assert queue.issue("KTP-EL")[0]["position"] == 5
    called = queue.call_next("L01")  # the elderly citizen
    assert called["_id"] == elderly["ticket_id"]
    assert queue.issue("KTP-EL")[0]["position"] == 5
    second, _ = queue.issue("KTP-EL", priority="pregnant")
    queue.cancel(second["ticket_id"], "citizen")
    assert queue.issue("KTP-EL", priority="child")[0]["position"] == 1
    queue.close_counter("L01")  # the called elderly ticket goes back to the front
    assert queue.issue("KTP-EL", priority="disability")[0]["position"] == 3
    assert queue.issue("AKTA")[0]["position"] == 1  # another service, its own line
    # Every issued position equals what a count of the waiting tickets says.
    last, _ = queue.issue("KTP-EL")
    assert last["position"] == queue.queries.view(last["ticket_id"])["position"] == 9


def test_a_count_a_crash_left_wrong_is_right_after_the_recount(hall):
    queue, repo = hall
    for _ in range(3):
        queue.issue("KTP-EL")
    repo.count_waiting_change = lambda *_: None  # the process dies before the count's write
    queue.call_next("L01")
    del repo.count_waiting_change
    assert queue.issue("KTP-EL")[0]["position"] == 4  # one too many: the call was not counted
    days = repo.live_waiting_days()
    assert len(days) == 1
    assert repo.recount_waiting(*days[0]) == 1
    assert repo.recount_waiting(*days[0]) == 0  # nothing left to correct
    assert queue.issue("KTP-EL")[0]["position"] == 4  # 3 wait ahead: right again


def test_the_recount_asks_per_service_day_never_for_the_waiting_tickets(hall):
    """The recount's store operations do not grow with the backlog: one distinct per
    site, the day's sequences, and two counts per service; no ticket is fetched."""
    queue, repo = hall
    for _ in range(40):
        queue.issue("KTP-EL")
    calls, depth = [], []

    def counted(name, method):
        def call(*args, **kwargs):
            if not depth:  # the store's own calls inside one (distinct uses find) are not
                calls.append(name)
            depth.append(name)
            try:
                return method(*args, **kwargs)
            finally:
                depth.pop()
        return call

    for name in ("find", "find_one", "count_documents", "distinct", "aggregate"):
        setattr(repo.tickets, name, counted(name, getattr(repo.tickets, name)))
    for day in repo.live_waiting_days():
        repo.recount_waiting(*day)
    services = len(repo.sequences_of(*day))
    assert calls.count("find") == calls.count("find_one") == calls.count("aggregate") == 0
    assert calls.count("distinct") == 2  # sites, then the one site's days
    assert calls.count("count_documents") == 2 * services


def test_a_ticket_issued_while_a_call_was_on_its_way_is_not_called_before_its_issue(hall):
    queue, repo = hall
    issued_at = queue.clock.now
    ticket, _ = queue.issue("KTP-EL")
    queue.clock.advance(microseconds=-900)  # the call read its clock before the issue wrote
    called = queue.call_next("L01")
    assert called["_id"] == ticket["ticket_id"]
    assert called["called_at"] >= issued_at and called["waiting_seconds"] >= 0
    event = repo.written[-1].entries[-1]["envelope"]["data"]
    assert event["waiting_seconds"] >= 0
    assert contract().problems(repo.written[-1].entries[-1]["envelope"]) == []


# -- flat in the live backlog too -------------------------------------------------------


def hall_with_a_backlog(database, waiting, prefix):
    log = []
    repo = QueueRepository(RecordingDatabase(database(f"{prefix}queue"), log))
    repo.ensure_indexes()
    queue = QueueCommands(repo, default_catalog(), Clock(), Settings())
    queue.catalog.records["services"]["KTP-EL"]["daily_quota"] = None
    queue.open_counter("L01")
    for _ in range(waiting):
        queue.issue("KTP-EL")
    queue.issue("KTP-EL", priority="elderly")  # one priority ticket in the line as well
    settle(repo)
    return queue, repo, log


def costs_at_the_head(queue, repo, log, examined):
    """Store operations and examined documents of calling and serving the head of the
    line (a priority ticket, then the oldest regular one) and of issuing at its back."""
    def serve_the_called():
        active = repo.active_ticket_of("L01")
        queue.start(active["_id"], "L01")
        settle(repo)
        return lambda: queue.complete(active["_id"], "L01")

    steps = (("call-next (priority)", lambda: queue.call_next("L01")),
             ("complete", serve_the_called), ("call-next", lambda: queue.call_next("L01")),
             ("issue", lambda: queue.issue("KTP-EL")))
    measured = {}
    for name, request in steps:
        if name == "complete":
            request = request()
        log.clear()
        before = examined.count if examined else 0
        assert request()
        settle(repo)
        measured[name] = ([(r["collection"], r["op"]) for r in log],
                          (examined.count - before) if examined else None)
    return measured


def test_call_next_and_issue_cost_the_same_behind_ten_or_three_thousand_waiting(
        database, examined):
    """The head of the line is read on an index (the embedded store's ordered indexes
    too): calling the next ticket does not read the backlog behind it."""
    short = costs_at_the_head(*hall_with_a_backlog(database, 10, "short_"), examined)
    long = costs_at_the_head(*hall_with_a_backlog(database, 3_000, "long_"), examined)
    for name, cost in short.items():
        assert long[name] == cost, name
    if examined:
        assert all(documents <= 16 for _ops, documents in long.values()), long
