"""The rate-limit counters in the store (services.kernel.infra.ratelimit), against the
configured Mongo store: a full window refuses without writing, and a request given back
leaves the window as it was."""

from services.kernel.infra import ratelimit


def documents(collection):
    return sorted((d["_id"], d["count"]) for d in collection.find())


def test_a_full_window_refuses_and_writes_nothing(database):
    limits = database("queue").rate_limits
    assert [ratelimit.take(limits, "client:a", 0, 60, 2) for _ in range(2)] == [True, True]
    before = documents(limits)
    assert not ratelimit.take(limits, "client:a", 0, 60, 2)
    assert documents(limits) == before == [("client:a|0", 2)]
    assert ratelimit.take(limits, "client:a", 60, 120, 2), "the next window is another"


def test_a_request_given_back_leaves_the_window_as_it_was(database):
    limits = database("queue").rate_limits
    ratelimit.take(limits, "client:a", 0, 60, 5)
    ratelimit.take(limits, "client:b", 0, 60, 5)
    ratelimit.take(limits, "client:a", 0, 60, 5)
    ratelimit.give_back(limits, "client:a", 0)
    ratelimit.give_back(limits, "client:b", 0)
    assert documents(limits) == [("client:a|0", 1)], "a window back at 0 is gone"
