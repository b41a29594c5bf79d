"""Ingesting one event costs the same however many events are stored: a ticket is
folded from its own bundle of events (one document read by its key), and the figures
are the ones a replay of all stored events gives."""

import random

from antre_devtools.costs import RecordingDatabase
from services.reporting.repository import ReportingRepository
from tests.unit.reporting.test_domain import lifecycle
from tests.unit.reporting.test_replay import figures, ingest, store_unchecked


def recording_repo(database, name):
    log = []
    recording = ReportingRepository(RecordingDatabase(database(name), log))
    recording.ensure_indexes()
    log.clear()
    return recording, log


def cost_of_one_ticket(recording, log, ticket_id):
    log.clear()
    ingest(recording, lifecycle(ticket_id, wait_min=3))
    return [(r["collection"], r["op"]) for r in log]


def test_one_ticket_costs_the_same_store_operations_after_many_tickets(database):
    recording, log = recording_repo(database, "reporting")
    ingest(recording, lifecycle("the-days-first", wait_min=1))  # records the day (once)
    first = cost_of_one_ticket(recording, log, "first")
    for i in range(300):
        ingest(recording, lifecycle(f"t{i}", wait_min=i % 7))
    later = cost_of_one_ticket(recording, log, "later")
    assert later == first
    assert ("events", "find") not in first  # never a query over the stored events
    assert all(r["op"] != "find" for r in log)


def test_live_figures_equal_a_replay_with_redeliveries_and_any_order(repo):
    rng = random.Random(3)
    envelopes = [e for i in range(20) for e in lifecycle(f"t{i}", wait_min=i)]
    redelivered = envelopes + rng.sample(envelopes, 15)
    rng.shuffle(redelivered)
    ingest(repo, redelivered)
    live = figures(repo)
    assert live[0]["issued"] == 20
    repo.rebuild()
    assert figures(repo) == live


def test_a_ticket_whose_events_were_stored_before_bundles_keeps_them(repo):
    issued, *rest = lifecycle("old", wait_min=5)
    store_unchecked(repo, issued)  # stored by an older version, in no bundle
    repo.bundles.delete_many({})
    ingest(repo, rest)
    live = figures(repo)
    assert live[0]["issued"] == 1 and live[0]["served"] == 1
    repo.rebuild()
    assert figures(repo) == live
