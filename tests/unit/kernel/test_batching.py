"""Group commit: workers that submit together are stored together, each returns only
once its own item is stored, and a failed batch hands every item back."""

import eventlet
import pytest

from services.kernel.batching import BatchFailed, GroupCommit


def run_workers(group, items):
    """One green thread per item, as nameko runs one worker per message."""
    results = {}

    def worker(item):
        try:
            group.submit(item)
            results[item] = "stored"
        except BatchFailed as exc:
            results[item] = f"failed: {exc}"

    pool = eventlet.GreenPool()
    for item in items:
        pool.spawn(worker, item)
    pool.waitall()
    return results


def test_workers_that_submit_together_are_stored_in_one_batch():
    batches = []
    group = GroupCommit(batches.append, max_batch=100)
    results = run_workers(group, range(30))
    assert results == {i: "stored" for i in range(30)}
    assert batches == [list(range(30))]
    assert (group.batches, group.largest) == (1, 30)


def test_a_worker_returns_only_once_its_item_is_stored():
    stored, seen_at_return = [], {}

    def slow_commit(items):
        eventlet.sleep(0.01)  # the store answers over the network
        stored.extend(items)

    group = GroupCommit(slow_commit, max_batch=4)

    def worker(item):
        group.submit(item)
        seen_at_return[item] = item in stored

    pool = eventlet.GreenPool()
    for item in range(10):
        pool.spawn(worker, item)
        if item == 5:
            eventlet.sleep(0)  # some arrive while a batch is being stored
    pool.waitall()
    assert sorted(stored) == list(range(10)) and all(seen_at_return.values())
    assert group.largest <= 4 and group.batches >= 3


def test_a_failed_batch_hands_every_item_back_and_the_next_batch_is_tried_afresh():
    calls = []

    def commit(items):
        calls.append(list(items))
        if 3 in items:
            raise RuntimeError("item 3 cannot be stored")

    group = GroupCommit(commit, max_batch=5)
    results = run_workers(group, range(8))
    assert calls == [[0, 1, 2, 3, 4], [5, 6, 7]]
    assert {i for i, r in results.items() if r.startswith("failed")} == {0, 1, 2, 3, 4}
    assert "item 3 cannot be stored" in results[0]
    assert all(results[i] == "stored" for i in (5, 6, 7))


def test_a_committer_killed_mid_batch_leaves_no_worker_waiting_forever():
    def commit(items):
        if 0 in items:
            raise eventlet.greenlet.GreenletExit()  # its worker was killed
        return None

    group = GroupCommit(commit, max_batch=3)
    outcomes = {}

    def worker(item):
        try:
            group.submit(item)
            outcomes[item] = "stored"
        except BatchFailed:
            outcomes[item] = "failed"
        except eventlet.greenlet.GreenletExit:
            outcomes[item] = "killed"

    pool = eventlet.GreenPool()
    for item in range(5):
        pool.spawn(worker, item)
    with eventlet.Timeout(5):
        pool.waitall()
    assert outcomes == {0: "killed", 1: "failed", 2: "failed", 3: "stored", 4: "stored"}


def test_max_batch_must_be_positive():
    with pytest.raises(ValueError):
        GroupCommit(list.append, max_batch=0)
