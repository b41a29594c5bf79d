"""The counter console shows the order call-next will call (issue 15, item 13).

``domain.call_order`` is the one rule: call-next calls its first ticket, and the
console's list (``GET /api/queue/counters/<code>/waiting``) is the whole order.
"""

import random
from datetime import UTC, datetime

from services.queue import domain
from services.queue.domain import call_order, choose_next

from .test_commands import serve

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
PRIORITIES = [None, None, None, "elderly", "pregnant", "disability", "child",
              "disaster_victim"]


def random_waiting(rng, n):
    keys = rng.sample(range(-50, 10_000), n)  # negative: returned to the front
    return [{"_id": f"t{i}", "queue_key": key, "priority": rng.choice(PRIORITIES)}
            for i, key in enumerate(keys)]


def test_the_first_of_the_call_order_is_what_choose_next_picks():
    rng = random.Random(1513)
    for _ in range(2000):
        waiting = random_waiting(rng, rng.randint(0, 12))
        streak, max_streak = rng.randint(0, 4), rng.randint(1, 3)
        order = call_order(waiting, streak, max_streak, NOW)
        priority = [t for t in waiting if t["priority"] is not None]
        regular = [t for t in waiting if t["priority"] is None]
        pick = choose_next(bool(priority), bool(regular), streak, max_streak)
        if pick.kind is None:
            assert order == []
            continue
        oldest = min(priority if pick.kind == "priority" else regular,
                     key=lambda t: t["queue_key"])
        assert order[0] == domain.Call(oldest, pick.streak), (waiting, streak, max_streak)
        assert len(order) == len(waiting)
        assert {t["_id"] for t in (c.ticket for c in order)} == {t["_id"] for t in waiting}
        # The rest is the order of what is left once the first is called.
        rest = [t for t in waiting if t is not oldest]
        assert call_order(rest, pick.streak, max_streak, NOW) == order[1:]
        assert call_order(waiting, streak, max_streak, NOW, limit=3) == order[:3]


def test_the_console_order_is_the_order_call_next_calls(queue, queries, clock):
    """Tickets of both of L01's services, priority and not, some returned to the front:
    the counter's waiting list is exactly the sequence of its call-next results."""
    rng = random.Random(13)
    queue.open_counter("L01")
    queue.open_counter("L02")
    for _ in range(30):
        queue.issue(rng.choice(["KTP-EL", "AKTA"]), priority=rng.choice(PRIORITIES))
        clock.advance(seconds=rng.randint(1, 40))
    # L01 serves a few first, so that its streak is under way.
    for _ in range(3):
        called = queue.call_next("L01")
        serve(queue, "L01", called["_id"], clock, minutes=1)
    # L02 calls two and closes: they go back to the front of their queues.
    for _ in range(2):
        queue.call_next("L02")
        queue.close_counter("L02")
        queue.open_counter("L02")

    shown = queries.counter_waiting("L01", limit=200)
    assert shown["total"] == len(shown["items"]) == 27  # 30 issued, 3 served
    assert [item["call_position"] for item in shown["items"]] == list(range(1, 28))
    assert any(item["priority"] for item in shown["items"])
    assert any(item.get("returned_at") for item in shown["items"])
    assert "queue_key" not in shown["items"][0] and "secret_hash" not in shown["items"][0]
    first_five = queries.counter_waiting("L01", limit=5)
    assert first_five["items"] == shown["items"][:5] and first_five["total"] == 27

    called = []
    while (ticket := queue.call_next("L01")) is not None:
        called.append(ticket["ticket_number"])
        serve(queue, "L01", ticket["_id"], clock, minutes=1)
    assert called == [item["ticket_number"] for item in shown["items"]]
    arrival = sorted(shown["items"], key=lambda item: item["issued_at"])
    assert called != [item["ticket_number"] for item in arrival], \
        "the mix makes the call order differ from arrival order"
