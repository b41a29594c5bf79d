"""Replays are all or nothing, and no stored event is trusted.

The repository runs on the test's MongoDB (mongomock, or a real server with
``MONGO_URL``); the events are the queue's own, built by its domain.
"""

import copy

import pytest

from services.kernel.contract import contract
from services.kernel.events import Event
from services.queue import domain as queue_domain
from services.reporting import domain
from services.reporting.repository import ReplayRunning, ReportingRepository
from tests.unit.reporting.test_domain import T0, lifecycle, ticket

DAY, SITE = "2026-11-23", "BWI"
POISONED = "9d0c7a5e-1b2f-4c3d-8e4f-5a6b7c8d9e0f"


def ingest(repo, envelopes):
    """What the service does for each event the consumer let through, one at a time
    (``test_batch_ingest.py`` checks that batches store the same)."""
    for envelope in envelopes:
        repo.ingest_one(envelope)


def feedback(ticket_id, scores=(4, 4, 3, 4, 4, 4, 4, 3, 4)):
    t = ticket(_id=ticket_id, visit_id=ticket_id, counter="L01")
    scores = dict(zip(queue_domain.IKM_ELEMENTS, scores, strict=True))
    return queue_domain.feedback_event(t, scores, False, T0).envelope("/antre/queue")


def figures(repo):
    report = domain.daily_report(repo.facts_of(SITE, DAY), SITE, DAY, "Asia/Jakarta")
    return report["totals"], repo.feedback_between(SITE, DAY, DAY)


def a_day(repo, tickets=12):
    ingest(repo, [e for i in range(tickets) for e in lifecycle(f"t{i}", wait_min=i)])
    ingest(repo, [feedback("t0"), feedback("t1", (3,) * 9)])


def stored_facts(repo):
    """The stored facts, without the revisions their writes took (bookkeeping of the
    running figures: a replay writes the same facts under no revision)."""
    return sorted(({k: v for k, v in f.items() if k != "revision"} for f in repo.facts.find()),
                  key=lambda f: f["_id"])


def store_unchecked(repo, envelope):
    """An event stored before events were checked on arrival (older versions)."""
    repo.store_event(envelope)
    repo.events.update_one({"_id": envelope["id"]}, {"$unset": {"checked": ""}})


def test_the_published_contract_refuses_each_kind_of_poison():
    good = lifecycle("t1")[1]
    c = contract()
    assert c.problems(good) == []
    wrong_recalls = copy.deepcopy(good)
    wrong_recalls["data"]["recalls"] = "2"
    string_scores = feedback("t1")
    string_scores["data"]["scores"]["u1"] = "4"
    bad_time = {**good, "time": "kemarin sore"}
    impossible_time = {**good, "time": "2026-13-45T99:00:00.000Z"}
    foreign = {**good, "type": "com.example.order.created.v1"}
    unknown = {**good, "type": "antre.ticket.exploded.v1"}
    no_id = {k: v for k, v in good.items() if k != "id"}
    no_type = {k: v for k, v in good.items() if k != "type"}
    for poison in ([1, 2], None, "text", 42, {}, no_id, no_type, wrong_recalls, string_scores,
                   bad_time, impossible_time, foreign, unknown):
        assert c.problems(poison), poison
    assert "recalls" in c.problems(wrong_recalls)[0]
    assert "not an event type of the contract" in c.problems(unknown)[0]


def test_a_fold_leaves_out_an_event_whose_fields_have_the_wrong_types():
    events = lifecycle("t1")
    bad = copy.deepcopy(events[1])
    bad["id"] = "bad-call"
    bad["data"]["recalls"] = "2"
    fact = domain.fold_ticket(events + [bad])
    assert fact == domain.fold_ticket(events)
    assert domain.fold_ticket([bad]) is None
    garbage = [{"type": "antre.ticket.called.v1", "time": "x", "id": "g", "data": {}},
               {"type": 7}, None, {"type": "antre.ticket.called.v1", "id": "h",
                                   "time": events[1]["time"], "data": []}]
    assert domain.fold_ticket(garbage) is None


def test_events_of_a_ticket_nobody_issued_change_no_figure():
    events = lifecycle("t1")
    ghost = domain.fold_ticket(lifecycle("ghost")[1:])  # called, serving, completed only
    assert ghost["issued_seen"] is False
    real = domain.fold_ticket(events)
    report = domain.daily_report([real, ghost], SITE, DAY, "Asia/Jakarta")
    assert report["totals"]["issued"] == 1 and report["totals"]["served"] == 1
    late_issue = domain.fold_ticket(lifecycle("ghost"))  # its issue arrives after all
    assert domain.daily_report([real, late_issue], SITE, DAY,
                               "Asia/Jakarta")["totals"]["issued"] == 2


def test_a_replay_gives_the_same_figures(repo):
    a_day(repo)
    before = figures(repo)
    result = repo.rebuild()
    assert (result["tickets"], result["events"], result["set_aside"]) == (12, 50, [])
    assert figures(repo) == before
    assert repo.rebuilds.count_documents({}) == 0
    assert not [n for n in repo.db.list_collection_names() if "__rebuild" in n]


def test_a_replay_that_fails_midway_leaves_the_figures_exactly_as_before(repo):
    a_day(repo)
    before = figures(repo)
    facts_before = stored_facts(repo)
    repo.facts.delete_one({"_id": "t3"})  # a projection the replay would repair ...
    damaged = figures(repo)

    def die(done):
        if done == 7:
            raise RuntimeError("the database went away in the middle of the replay")

    repo.during_rebuild = die
    with pytest.raises(RuntimeError):
        repo.rebuild()
    assert figures(repo) == damaged, "... but a failed replay changes nothing at all"
    assert not [n for n in repo.db.list_collection_names() if "__rebuild" in n]
    assert repo.rebuilds.count_documents({}) == 0, "the next replay may start at once"

    repo.during_rebuild = None
    repo.rebuild()
    assert figures(repo) == before
    assert stored_facts(repo) == facts_before


def test_a_stored_event_the_contract_refuses_is_set_aside_not_folded(repo):
    a_day(repo, tickets=3)
    before = figures(repo)
    poisoned = copy.deepcopy(lifecycle("t2")[2])  # a real ticket's event, recalls a string
    poisoned["id"] = POISONED
    poisoned["data"]["recalls"] = "2"
    poisoned["time"] = lifecycle("t2")[3]["time"].replace(".000Z", ".500Z")  # its latest
    store_unchecked(repo, poisoned)
    repo.project_ticket("t2")  # the live path leaves it out as well
    assert figures(repo) == before

    result = repo.rebuild()
    assert [(p["id"], p["type"]) for p in result["set_aside"]] == [
        (POISONED, "antre.ticket.serving.v1")]
    assert "recalls" in result["set_aside"][0]["reason"]
    assert figures(repo) == before
    assert repo.events.find_one({"_id": POISONED})["set_aside"]["reason"]
    assert repo.rebuild()["set_aside"][0]["id"] == POISONED  # still set aside


def test_one_replay_at_a_time_and_a_dead_one_does_not_block_for_ever(repo):
    a_day(repo, tickets=2)
    calls = []

    def meanwhile(done):
        if not calls:
            calls.append(done)
            with pytest.raises(ReplayRunning):
                repo.rebuild()

    repo.during_rebuild = meanwhile
    repo.rebuild()
    assert calls == [1]

    # A replay whose process died: its lock is stale after a while, then taken over, and
    # what it had built is dropped.
    repo.during_rebuild = None
    repo.rebuilds.insert_one({"_id": "replay", "token": "deadbeef", "state": "building",
                              "started_at": T0, "touched_at": T0})
    repo.db.create_collection("facts__rebuild_deadbeef")
    assert repo.rebuild()["tickets"] == 2
    assert not [n for n in repo.db.list_collection_names() if "__rebuild" in n]


def test_a_replay_whose_lock_was_taken_over_does_not_swap(repo):
    a_day(repo, tickets=3)
    before = figures(repo)

    def taken_over(done):
        if done == 2:  # as if it had stalled for minutes and another replay took over
            repo.rebuilds.update_one({"_id": "replay"}, {"$set": {"token": "another"}})

    repo.during_rebuild = taken_over
    with pytest.raises(ReplayRunning):
        repo.rebuild()
    assert figures(repo) == before
    assert repo.rebuilds.find_one({"_id": "replay"})["token"] == "another"


def test_a_swap_interrupted_by_a_dead_process_is_finished_at_the_next_start(repo, database):
    a_day(repo, tickets=4)
    before = figures(repo)
    swapped = []
    original = repo._swap

    def die_before_swapping(token):
        swapped.append(token)
        raise SystemExit("killed between writing the swap down and doing it")

    repo._swap = die_before_swapping
    with pytest.raises(SystemExit):
        repo.rebuild()
    assert swapped and repo.rebuilds.find_one({"_id": "replay"})["state"] == "swapping"
    repo.facts.delete_many({})  # the old projections: about to be replaced anyway

    restarted = ReportingRepository(database("reporting"))
    restarted.ensure_indexes()  # what the service does when it starts
    assert restarted.rebuilds.count_documents({}) == 0
    assert figures(restarted) == before
    assert original  # (the dead process's own swap never ran)


def test_events_that_arrive_during_a_replay_are_in_its_figures(repo):
    a_day(repo, tickets=3)
    late = lifecycle("late", wait_min=1)

    def meanwhile(done):
        if done == 1:
            ingest(repo, late)  # live ingest writes into the projections being replaced

    repo.during_rebuild = meanwhile
    repo.rebuild()
    totals, _ = figures(repo)
    assert (totals["issued"], totals["served"]) == (4, 4)


def test_the_days_to_close_are_read_from_site_days_not_from_every_fact(repo, database):
    a_day(repo, tickets=3)
    ingest(repo, lifecycle("next-day", local_day="2026-11-24"))
    assert repo.site_days() == [(SITE, DAY), (SITE, "2026-11-24")]
    assert repo.sites() == [SITE]
    assert repo.close_day(SITE, DAY, {"site": SITE}, domain_event())
    assert repo.site_days(open_only=True) == [(SITE, "2026-11-24")]
    ingest(repo, lifecycle("late-for-a-closed-day"))  # the day stays announced once
    assert repo.site_days(open_only=True) == [(SITE, "2026-11-24")]
    repo.rebuild()
    assert repo.site_days(open_only=True) == [(SITE, "2026-11-24")]

    # Facts stored before site_days existed: their days are recorded at start-up.
    repo.days.delete_many({})
    restarted = ReportingRepository(database("reporting"))
    restarted.ensure_indexes()
    assert restarted.site_days() == [(SITE, DAY), (SITE, "2026-11-24")]
    assert restarted.site_days(open_only=True) == [(SITE, "2026-11-24")]


def domain_event():
    return Event("report", "day_closed", f"reports/{SITE}/{DAY}", {}, site=SITE)
