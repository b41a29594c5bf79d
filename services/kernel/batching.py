"""Group commit: what concurrent workers submit at the same moment is stored together.

A service's event handler runs in one worker per message (up to ``max_workers`` at
once, the broker's prefetch). Each worker calls :meth:`GroupCommit.submit` with its
item and waits; one of them takes every item submitted so far (up to ``max_batch``)
and commits them with one call of ``commit_many`` while the others wait for it. Each
worker returns once *its* item is stored, so its message is acked only after the batch
it was in is stored: nothing acked is lost when the process dies.

When a batch fails, every worker of it gets :class:`BatchFailed` and handles its own
item alone (so one bad item fails alone, and goes through the usual retry and
dead-letter path). Items must be idempotent to store: a batch may be retried item by
item after part of it was stored.

Workers are green threads (eventlet monkey-patches ``threading`` and ``time``), so a
worker that submits yields once, letting the other workers that have a message submit
theirs before a batch is taken.
"""

import threading
import time

PENDING, STORED, FAILED = "pending", "stored", "failed"


class BatchFailed(Exception):
    """The batch this item was in failed; the item was not stored by it."""


class _Entry:
    __slots__ = ("item", "state", "error")

    def __init__(self, item):
        self.item, self.state, self.error = item, PENDING, None


class GroupCommit:
    def __init__(self, commit_many, max_batch=100):
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.commit_many = commit_many
        self.max_batch = max_batch
        self._pending = []
        self._committing = threading.Lock()
        self.batches = 0  # batches committed (for tests and metrics)
        self.largest = 0

    def submit(self, item):
        """Store ``item`` with whatever else is waiting; returns once it is stored.
        Raises :class:`BatchFailed` (from the batch's error) when its batch failed."""
        entry = _Entry(item)
        self._pending.append(entry)
        time.sleep(0)  # the other workers with a message submit theirs
        while entry.state is PENDING:
            with self._committing:
                if entry.state is PENDING:
                    batch = self._pending[:self.max_batch]
                    del self._pending[:len(batch)]
                    self._commit(batch)
        if entry.state is FAILED:
            raise BatchFailed(str(entry.error)) from entry.error

    def _commit(self, batch):
        error = BatchFailed("the batch was interrupted")
        try:
            self.commit_many([entry.item for entry in batch])
            error = None
        except Exception as exc:  # every item goes back to its worker, to be stored alone
            error = exc
        finally:
            if error is not None:  # (also when the committing worker was killed)
                for entry in batch:
                    entry.state, entry.error = FAILED, error
        if error is not None:
            return
        self.batches += 1
        self.largest = max(self.largest, len(batch))
        for entry in batch:
            entry.state = STORED
