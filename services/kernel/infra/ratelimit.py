"""Rate-limit and lockout counters in MongoDB, shared by every process of a service.

A service's repository declares the collection (with a TTL index on ``expires_at``) and
calls these; the rules themselves are :mod:`services.kernel.ratelimit`.
"""

from datetime import UTC, datetime

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError


def _at(seconds):
    return datetime.fromtimestamp(seconds, UTC)


def count_request(collection, key, start, end):
    """Count one request of ``key`` in the window ``[start, end)``: its count so far."""
    for _ in range(3):  # two first requests at once: one upsert loses the race on _id
        try:
            doc = collection.find_one_and_update(
                {"_id": f"{key}|{int(start)}"},
                {"$inc": {"count": 1}, "$setOnInsert": {"expires_at": _at(end)}},
                upsert=True, return_document=ReturnDocument.AFTER)
            return doc["count"]
        except DuplicateKeyError:
            continue
    raise RuntimeError(f"could not count a request of {key}")


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
