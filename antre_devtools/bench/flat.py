"""The benchmark's flat stage: one ticket's life after 10^3 and after 10^5 ended tickets.

On the embedded store, in the queue's own code (no processes, no broker): the store
operations of one life (issue, view, call-next, start, complete, overview) must be the
same at both sizes, and the time of ``--tickets`` lives at each size is measured. The hall
and the operation counting are ``antre_devtools.costs``, the instruments the unit test
``tests/unit/queue/test_flat_day.py`` uses too, on the sample catalog. The stage runs in
its own process (``python -m antre_devtools.bench.flat``, which ``in_own_process`` starts
for ``make bench``), so that its 10^5 stored tickets leave with it, and prints its figures
as one JSON line.
"""

import argparse
import json
import subprocess
import sys
import time
import uuid

from antre_devtools import ROOT
from antre_devtools.bench.load import ms, ratio
from antre_devtools.harness import HarnessError


def measure(lives):
    """The flat figures, in this process."""
    from antre_devtools.costs import cost_of_a_ticket_life, hall_that_has_seen
    from antre_devtools.fakes import FakeCatalog
    from services.catalog.commands import SAMPLE, parse_document
    from services.kernel.infra.mongo import client_for

    sample = parse_document(SAMPLE.read_text(encoding="utf-8"))
    counter = next(c for c in sample["counters"] if c.get("services"))
    service = counter["services"][0]
    for record in sample["services"]:
        if record["code"] == service:
            record["daily_quota"] = None  # many lives, one service

    run = uuid.uuid4().hex[:6]
    result = {}
    for size in (1_000, 100_000):
        def database(name, size=size):
            return client_for("mongomock://bench/")[f"flat{run}_{size}_{name}"]

        queue, repo, log = hall_that_has_seen(database, size, "", FakeCatalog.from_document(sample),
                                              service, counter["code"])
        morning = queue.clock.now
        costs = cost_of_a_ticket_life(queue, repo, log, None, service, counter["code"])
        elapsed = 0.0
        for _ in range(lives):
            queue.clock.now = morning  # each life in the same open hour
            start = time.perf_counter()
            cost_of_a_ticket_life(queue, repo, log, None, service, counter["code"])
            elapsed += time.perf_counter() - start
        seconds = elapsed / lives
        result[size] = ({name: len(ops) for name, (ops, _examined) in costs.items()}, seconds)
    (small_ops, small_s), (large_ops, large_s) = result[1_000], result[100_000]
    return {"flat_operations_1e3": small_ops, "flat_operations_1e5": large_ops,
            "flat_operations_equal": small_ops == large_ops,
            "flat_ticket_life_ms_1e3": ms(small_s), "flat_ticket_life_ms_1e5": ms(large_s),
            "flat_time_ratio_1e5_to_1e3": ratio(large_s, small_s)}


def in_own_process(lives, timeout):
    """``measure(lives)`` in ``python -m antre_devtools.bench.flat`` run from the repository
    root; its figures."""
    command = [sys.executable, "-m", "antre_devtools.bench.flat", "--tickets", str(lives)]
    try:
        done = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        raise HarnessError(f"flat stage: no result within {timeout:.0f}s") from None
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise HarnessError(f"flat stage: {' '.join(command)} exited with {done.returncode}")
    return json.loads(lines[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=200, help="lives timed at each size")
    args = parser.parse_args(argv)
    if args.tickets < 1:
        parser.error("--tickets must be at least 1")
    print(json.dumps(measure(args.tickets), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
