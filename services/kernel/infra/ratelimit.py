"""Rate-limit and lockout counters in MongoDB, shared by every process of a service.

A service's repository declares the collection (with a TTL index on ``expires_at``) and
calls these; the rules themselves are :mod:`services.kernel.ratelimit`.
"""

from datetime import UTC, datetime

from pymongo.errors import DuplicateKeyError


def _at(seconds):
    return datetime.fromtimestamp(seconds, UTC)


def take(collection, key, start, end, max_requests):
    """Count one request of ``key`` in the window ``[start, end)`` if fewer than
    ``max_requests`` are counted: True; False, writing nothing, when the window is full."""
    window = f"{key}|{int(start)}"
    for _ in range(3):
        try:
            collection.find_one_and_update(
                {"_id": window, "count": {"$lt": max_requests}},
                {"$inc": {"count": 1}, "$setOnInsert": {"expires_at": _at(end)}},
                upsert=True)
            return True
        except DuplicateKeyError:  # full (the upsert met the window's document), or a race
            if collection.count_documents({"_id": window, "count": {"$gte": max_requests}},
                                          limit=1):
                return False
    raise RuntimeError(f"could not count a request of {key}")


def give_back(collection, key, start):
    """Uncount one request taken with :func:`take` (a window back at 0 is removed)."""
    window = f"{key}|{int(start)}"
    collection.update_one({"_id": window, "count": {"$gt": 0}}, {"$inc": {"count": -1}})
    collection.delete_one({"_id": window, "count": 0})


def state(collection, key):
    doc = collection.find_one({"_id": key}, {"_id": 0, "version": 0, "expires_at": 0})
    return doc


def change_state(collection, key, change, keep_seconds, now):
    """Replace ``key``'s state with ``change(state)``, atomically (compare and set on a
    version, retried when another process changed it meanwhile)."""
    new = None
    for _ in range(10):
        doc = collection.find_one({"_id": key})
        current = None if doc is None else {k: v for k, v in doc.items()
                                            if k not in ("_id", "version", "expires_at")}
        new = change(current)
        record = {**new, "expires_at": _at(now + keep_seconds)}
        if doc is None:
            try:
                collection.insert_one({"_id": key, **record, "version": 1})
                return new
            except DuplicateKeyError:
                continue
        done = collection.replace_one({"_id": key, "version": doc["version"]},
                                      {**record, "version": doc["version"] + 1})
        if done.matched_count:
            return new
    return new


def forget(collection, key):
    collection.delete_one({"_id": key})
