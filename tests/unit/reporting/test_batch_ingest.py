"""Batches store what one-by-one ingest stores, at a cost that does not grow with the
batch; the running figures of a day equal its daily report, across processes too."""

import random

import pytest

from services.reporting import domain
from services.reporting.repository import ReportingRepository
from tests.unit.reporting.test_domain import lifecycle
from tests.unit.reporting.test_ingest_cost import recording_repo
from tests.unit.reporting.test_replay import (
    DAY,
    SITE,
    feedback,
    figures,
    ingest,
    store_unchecked,
    stored_facts,
)

TZ = "Asia/Jakarta"


def a_busy_day(tickets=25, seed=5):
    rng = random.Random(seed)
    envelopes = [e for i in range(tickets) for e in lifecycle(f"t{i}", wait_min=i % 9)]
    envelopes += [feedback("t0"), feedback("t1", (3,) * 9)]
    redelivered = envelopes + rng.sample(envelopes, 20)
    rng.shuffle(redelivered)
    return redelivered


def in_batches(repo, envelopes, size):
    for start in range(0, len(envelopes), size):
        repo.ingest_many(envelopes[start:start + size])


def stored(repo):
    bundles = {b["_id"]: sorted(b["ids"]) for b in repo.bundles.find()}
    return (stored_facts(repo), sorted(e["_id"] for e in repo.events.find()), bundles,
            figures(repo))


@pytest.mark.parametrize("size", [1, 7, 40, 500])
def test_batches_store_what_one_event_at_a_time_stores(database, size):
    envelopes = a_busy_day()
    one_by_one = ReportingRepository(database("reporting_single"))
    one_by_one.ensure_indexes()
    ingest(one_by_one, envelopes)
    batched = ReportingRepository(database(f"reporting_batch{size}"))
    batched.ensure_indexes()
    in_batches(batched, envelopes, size)
    assert stored(batched) == stored(one_by_one)
    assert figures(batched)[0]["served"] == 25
    batched.rebuild()
    assert stored(batched) == stored(one_by_one)


def test_a_batch_costs_the_same_store_operations_however_many_events_it_holds(database):
    recording, log = recording_repo(database, "reporting")
    recording.ingest_many(lifecycle("the-days-first"))  # records the day (once)

    def cost(tickets, prefix):
        log.clear()
        recording.ingest_many([e for i in range(tickets) for e in lifecycle(f"{prefix}{i}")])
        return [(r["collection"], r["op"]) for r in log]

    small, large = cost(2, "s"), cost(50, "l")
    assert small == large
    assert small == [("events", "bulk_write"), ("ticket_events", "bulk_write"),
                     ("ticket_events", "find"), ("site_days", "find_one_and_update"),
                     ("facts", "bulk_write")]
    assert figures(recording)[0]["served"] == 53


def test_a_ticket_first_met_after_its_issue_takes_its_older_events_in_a_batch(repo):
    issued, *rest = lifecycle("old", wait_min=5)
    store_unchecked(repo, issued)  # stored by an older version, in no bundle
    repo.bundles.delete_many({})
    repo.ingest_many(rest)
    assert figures(repo)[0]["issued"] == 1 and figures(repo)[0]["served"] == 1


# -- running figures ---------------------------------------------------------------------


def report_of(repo):
    return repo.running.day(SITE, DAY, TZ).report()


def expected(repo):
    return domain.daily_report(repo.facts_of(SITE, DAY), SITE, DAY, TZ)


def test_the_running_day_is_the_daily_report_as_events_arrive(repo):
    envelopes = a_busy_day()
    assert report_of(repo) == expected(repo)
    for start in range(0, len(envelopes), 9):
        if start % 2:
            repo.ingest_many(envelopes[start:start + 9])
        else:
            ingest(repo, envelopes[start:start + 9])
        assert report_of(repo) == expected(repo)
    assert report_of(repo)["totals"]["served"] == 25


def test_a_read_when_nothing_changed_elsewhere_is_one_look_up(database):
    recording, log = recording_repo(database, "reporting")
    recording.ingest_many(lifecycle("first"))
    recording.running.day(SITE, DAY, TZ)  # loads the day once
    for i in range(30):
        recording.ingest_many(lifecycle(f"t{i}"))
        log.clear()
        assert recording.running.day(SITE, DAY, TZ).report()["totals"]["served"] == i + 2
        assert [(r["collection"], r["op"]) for r in log] == [("site_days", "find_one")]


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def two_processes(database, concurrent=True):
    clock = Clock()
    db = database("reporting")
    here, there = ReportingRepository(db), ReportingRepository(db)
    for repo in (here, there):
        repo.ensure_indexes()
        repo.running.clock, repo.running.concurrent = clock, concurrent
    return here, there, clock


def test_a_day_read_in_one_process_counts_what_another_process_stored(database):
    here, there, _ = two_processes(database)
    envelopes = a_busy_day()
    half = len(envelopes) // 2
    here.ingest_many(envelopes[:10])
    assert report_of(here) == expected(here)
    there.ingest_many(envelopes[10:half])
    ingest(here, envelopes[half:half + 10])
    ingest(there, envelopes[half + 10:])
    assert report_of(here) == expected(here) == report_of(there)
    assert report_of(here)["totals"]["served"] == 25


def test_a_write_under_way_while_a_day_is_read_is_counted_when_it_lands(database):
    here, there, clock = two_processes(database)
    ingest(here, lifecycle("early"))
    report_of(here)
    # Another process has taken its revision but not yet written its fact ...
    envelopes = lifecycle("late")
    for envelope in envelopes:
        there.store_event(envelope)
    fact = domain.fold_ticket(envelopes)
    last = there._take_revisions(SITE, DAY, 1)
    ingest(there, lifecycle("after"))  # ... while later writes land
    assert report_of(here)["totals"]["served"] == 2, "'late' is not written yet"
    clock.now += 2  # within the gap: still looked for
    fact["revision"] = last
    there.facts.replace_one({"_id": "late"}, fact, upsert=True)
    assert report_of(here)["totals"]["served"] == 3
    assert report_of(here) == expected(here)
    clock.now += 10
    report_of(here)
    assert not here.running.days[(SITE, DAY)].missing, "found: nothing left to look for"


def test_a_revision_that_never_lands_is_looked_for_only_for_a_while(database):
    here, there, clock = two_processes(database)
    ingest(here, lifecycle("a"))
    report_of(here)
    clock.now += here.running.gap_seconds + 1
    report_of(here)  # what the load looked for again (a's earlier writes) is forgotten
    assert not here.running.days[(SITE, DAY)].missing
    there._take_revisions(SITE, DAY, 3)  # taken, then the writer died
    report_of(here)
    assert len(here.running.days[(SITE, DAY)].missing) == 3
    clock.now += here.running.gap_seconds + 1
    assert report_of(here) == expected(here)
    assert not here.running.days[(SITE, DAY)].missing


def test_a_load_looks_again_for_revisions_taken_just_before_it(database):
    here, there, clock = two_processes(database)
    envelopes = lifecycle("under-way")
    for envelope in envelopes:
        there.store_event(envelope)
    fact = domain.fold_ticket(envelopes)
    fact["revision"] = there._take_revisions(SITE, DAY, 1)
    assert report_of(here)["totals"]["issued"] == 0  # loaded before the write landed
    there.facts.replace_one({"_id": "under-way"}, fact, upsert=True)
    assert report_of(here)["totals"]["issued"] == 1


def test_a_replay_makes_every_process_load_its_days_again(database):
    here, there, _ = two_processes(database)
    in_batches(here, a_busy_day(), 10)
    before = report_of(here)
    there.facts.delete_one({"_id": "t3"})  # damaged behind everyone's back
    assert report_of(here) == before, "the running figures do not see it ..."
    there.rebuild()
    assert report_of(here) == before == expected(here), "... and the replay repaired it"
    assert here.running.days[(SITE, DAY)].epoch == 1


def test_days_are_loaded_again_after_a_while_and_only_a_few_are_kept(database):
    here, _, clock = two_processes(database, concurrent=False)
    ingest(here, lifecycle("a"))
    report_of(here)
    here.facts.delete_one({"_id": "a"})
    clock.now += here.running.reload_seconds + 1
    assert report_of(here)["totals"]["issued"] == 0
    for n in range(here.running.keep + 3):
        here.running.day(SITE, f"2026-10-{n + 1:02d}", TZ)
    assert len(here.running.days) == here.running.keep
