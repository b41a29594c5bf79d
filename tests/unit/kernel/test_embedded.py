"""The embedded store's faster paths give exactly mongomock's own answers.

Random documents and filters (the operators the faster filter decides, mixed with ones
it leaves to mongomock) are answered by the patched store and by mongomock's own filter
interpreter, document by document; sorted queries with a limit are compared with the
unlimited query's first documents.
"""

import random
from datetime import UTC, datetime

import mongomock
import pytest
from mongomock import filtering, helpers

from services.kernel.infra import embedded

VALUES = [None, 0, 1, 2, 1.5, -3, True, False, "", "x", "y", "xy", [1, "x"], [None], [],
          {"k": 1}, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC)]
SCALARS = [v for v in VALUES if not isinstance(v, (list, dict))]
FIELDS = ("a", "b", "c")


def random_document(rng, n):
    doc = {"_id": n}
    for field in FIELDS:
        if rng.random() < 0.8:  # sometimes missing
            doc[field] = rng.choice(VALUES)
    return doc


def random_condition(rng):
    op = rng.choice(["eq", "$in", "$nin", "$ne", "$lt", "$lte", "$gt", "$gte", "$exists",
                     "$regex", "both"])
    if op == "eq":
        return rng.choice(SCALARS)
    if op in ("$in", "$nin"):
        return {op: rng.sample(SCALARS, rng.randint(0, 4))}
    if op == "$exists":
        return {op: rng.choice([True, False])}
    if op == "$regex":  # not decided by the faster path: mongomock answers it
        return {op: "^x"}
    if op == "both":
        return {"$gte": rng.choice([0, "a"]), "$lt": rng.choice([2, "y"])}
    return {op: rng.choice(SCALARS)}


def random_filter(rng):
    return {field: random_condition(rng) for field in rng.sample(FIELDS, rng.randint(1, 3))}


@pytest.fixture(scope="module")
def collection():
    embedded.apply()
    rng = random.Random(20261207)
    db = mongomock.MongoClient(tz_aware=True).embedded_test
    db.docs.insert_many([random_document(rng, n) for n in range(300)])
    return db.docs, list(db.docs.find())


def test_every_filter_selects_the_documents_mongomock_itself_selects(collection):
    docs, stored = collection
    rng = random.Random(7)
    decided = 0
    for _ in range(1000):
        query = random_filter(rng)
        expected = [doc["_id"] for doc in stored if filtering.filter_applies(query, doc)]
        assert [doc["_id"] for doc in docs.find(query)] == expected, query
        assert docs.count_documents(query) == len(expected), query
        decided += embedded.compile_filter(query) is not None
    assert decided > 450  # most filters took the faster path


def test_a_sorted_limited_query_returns_the_first_of_the_full_sorted_answer(collection):
    docs, _stored = collection
    rng = random.Random(11)
    for _ in range(300):
        query = random_filter(rng) if rng.random() < 0.7 else {}
        field = rng.choice(FIELDS)
        direction = rng.choice([1, -1])
        skip, limit = rng.randint(0, 3), rng.randint(1, 5)
        full = [d["_id"] for d in docs.find(query).sort(field, direction)]
        cursor = docs.find(query).sort(field, direction).skip(skip).limit(limit)
        assert [d["_id"] for d in cursor] == full[skip:skip + limit], (query, field, direction)


def test_a_look_up_by_id_applies_the_rest_of_the_filter(collection):
    docs, stored = collection
    doc = stored[5]
    assert docs.find_one({"_id": 5}) == doc
    assert docs.find_one({"_id": 5, "zz": {"$exists": True}}) is None
    assert docs.find_one({"_id": 100_000}) is None


def test_answers_are_copies_and_a_changed_limit_is_obeyed(collection):
    docs, _stored = collection
    cursor = docs.find({"a": {"$exists": True}}).sort("_id", 1).limit(2)
    first = list(cursor)
    assert len(first) == 2
    first[0]["a"] = "changed"
    assert docs.find_one({"_id": first[0]["_id"]})["a"] != "changed"
    cursor = docs.find({}).sort("_id", 1).limit(1)
    assert len(list(cursor.limit(3))) == 3


def test_unique_indexes_still_refuse_a_duplicate_an_update_or_upsert_would_make():
    from pymongo.errors import DuplicateKeyError

    embedded.apply()
    db = mongomock.MongoClient(tz_aware=True).embedded_unique
    db.t.create_index("slot", unique=True, sparse=True)
    db.t.insert_many([{"_id": 1, "slot": "a"}, {"_id": 2}, {"_id": 3, "slot": "c"}])
    db.t.update_one({"_id": 2}, {"$set": {"note": "x"}, "$push": {"log": 1}})  # no check needed
    with pytest.raises(DuplicateKeyError):
        db.t.update_one({"_id": 2}, {"$set": {"slot": "a"}})
    db.t.update_one({"_id": 3}, {"$set": {"spare": "a"}})
    with pytest.raises(DuplicateKeyError):
        db.t.update_one({"_id": 3}, {"$rename": {"spare": "slot"}})
    with pytest.raises(DuplicateKeyError):
        db.t.replace_one({"_id": 2}, {"slot": "c"})
    with pytest.raises(DuplicateKeyError):
        db.t.update_one({"_id": 9}, {"$set": {"slot": "a"}}, upsert=True)
    with pytest.raises(DuplicateKeyError):
        db.t.find_one_and_update({"_id": 2}, {"$set": {"slot": "c"}})
    assert db.t.find_one({"_id": 2}) == {"_id": 2, "note": "x", "log": [1]}
    assert embedded.changed_fields({"$set": {"a.b": 1}, "$unset": {"c": ""}}) == {"a", "c"}
    assert embedded.changed_fields({"a": 1}) is None


def test_a_look_up_by_a_list_of_ids_is_mongomocks_answer(collection):
    docs, everything = collection
    rng = random.Random(7)
    for _ in range(50):
        ids = rng.sample(range(-5, 320), rng.randint(0, 6)) + ["x", 3]
        query = {"_id": {"$in": ids}, **random_filter(rng)}
        expected = [d["_id"] for d in everything if filtering.filter_applies(query, d)]
        assert sorted(d["_id"] for d in docs.find(query)) == sorted(expected)


def test_bulk_writes_answer_as_a_real_server_does(database):
    """Run on the test's store (embedded or a real MongoDB): the same counts and the same
    failed operations, ordered or not."""
    from pymongo import DeleteOne, InsertOne, ReplaceOne, UpdateOne
    from pymongo.errors import BulkWriteError

    facts = database("embedded_bulk").facts
    facts.drop()
    facts.insert_one({"_id": "a", "events": 3})
    newer = [ReplaceOne({"_id": "a", "events": {"$lt": 2}}, {"events": 2}, upsert=True),  # dup
             ReplaceOne({"_id": "b", "events": {"$lt": 2}}, {"events": 2}, upsert=True),
             UpdateOne({"_id": "a", "events": {"$lt": 4}}, {"$set": {"events": 4}}, upsert=True),
             InsertOne({"_id": "a"}),  # dup (unordered: no operation here depends on another)
             DeleteOne({"_id": "nothing"})]
    with pytest.raises(BulkWriteError) as failed:
        facts.bulk_write(newer, ordered=False)
    details = failed.value.details
    assert [e["index"] for e in details["writeErrors"]] == [0, 3]
    assert {e["code"] for e in details["writeErrors"]} == {11000}
    assert (details["nUpserted"], details["nMatched"], details["nModified"]) == (1, 1, 1)
    assert sorted((d["_id"], d["events"]) for d in facts.find()) == [("a", 4), ("b", 2)]
    with pytest.raises(BulkWriteError) as stopped:
        facts.bulk_write([InsertOne({"_id": "c"}), InsertOne({"_id": "a"}),
                          InsertOne({"_id": "d"})])
    assert [e["index"] for e in stopped.value.details["writeErrors"]] == [1]
    assert sorted(d["_id"] for d in facts.find()) == ["a", "b", "c"]  # ordered: stopped
    result = facts.bulk_write([UpdateOne({"_id": "c"}, {"$set": {"events": 1}}),
                               DeleteOne({"_id": "b"})])
    assert (result.matched_count, result.modified_count, result.deleted_count) == (1, 1, 1)


# -- ordered indexes -------------------------------------------------------------------

INDEXED = [[("a", 1), ("b", 1)], [("b", -1)], [("c", 1), ("a", 1), ("b", 1)], [("d.e", 1)]]
SPARSE = [[("c", 1), ("b", 1)], [("d.e", 1), ("a", 1)]]  # documents without c or d.e: out


def random_indexed_filter(rng):
    """Filters that fix leading index fields (equality, $in, null), bound the next one,
    or do neither."""
    query = {}
    for field in rng.sample(["a", "b", "c", "d.e"], rng.randint(1, 3)):
        shape = rng.random()
        if shape < 0.35:
            query[field] = rng.choice(SCALARS)
        elif shape < 0.55:
            query[field] = {"$in": rng.sample(SCALARS, rng.randint(1, 4))}
        elif shape < 0.6:
            query[field] = {"$ne": None}
        elif shape < 0.65:
            query[field] = {"$exists": True}
        elif shape < 0.85:
            bound = rng.choice([0, 1, 1.5, "x", "xy", datetime(2026, 3, 1, tzinfo=UTC)])
            ops = rng.sample(["$lt", "$lte", "$gt", "$gte"], rng.randint(1, 2))
            query[field] = {op: bound for op in ops}
        else:
            query[field] = random_condition(rng)
    return query


def random_change(rng, docs, n, values=VALUES):
    field = rng.choice(["a", "b", "c", "d"])
    value = rng.choice(values) if field != "d" else rng.choice([{"e": v} for v in SCALARS] + [1])
    target = {"_id": rng.choice([rng.randrange(130), -rng.randrange(1000, n + 1)])}
    kind = rng.random()
    if kind < 0.25:
        docs.insert_one({"_id": -n, **{f: rng.choice(values) for f in "abc" if rng.random() < 0.8},
                         "d": {"e": rng.choice(SCALARS)}})
    elif kind < 0.45:
        docs.update_one(target, {"$set": {field: value}}, upsert=rng.random() < 0.3)
    elif kind < 0.55:
        docs.update_many(random_indexed_filter(rng), {"$set": {field: value}})
    elif kind < 0.62:
        docs.update_one(target, {"$unset": {field: ""}})
    elif kind < 0.7:
        docs.replace_one(target, {f: rng.choice(values) for f in "ab"}, upsert=True)
    elif kind < 0.78:
        docs.find_one_and_update(random_indexed_filter(rng), {"$set": {field: value}})
    elif kind < 0.86:
        docs.delete_one(target)
    elif kind < 0.9:
        docs.delete_many(random_indexed_filter(rng))
    else:
        from pymongo import DeleteOne, UpdateOne
        docs.bulk_write([UpdateOne(target, {"$set": {field: value}}),
                         DeleteOne({"_id": -rng.randrange(1000, n + 1)})], ordered=False)


ORDERED = [v for v in SCALARS if isinstance(v, int | float | str) and not isinstance(v, bool)]


@pytest.mark.parametrize("seed, values", [(0, VALUES), (1, VALUES), (2, SCALARS),
                                          (3, ORDERED), (4, ORDERED)])
def test_ordered_indexes_choose_candidates_never_answers(seed, values, monkeypatch):
    """Under random writes, each query answers what mongomock's filter gives over every
    document, in the store's order; sorted, limited queries answer the first of the
    full sorted answer (walked on an index where one serves); and every index holds
    exactly the stored documents."""
    from services.kernel.infra.embedded_indexes import OrderedIndex, has_path

    embedded.apply()
    walks, walk = [], OrderedIndex.walk
    monkeypatch.setattr(OrderedIndex, "walk",
                        lambda *a: walks.append(walk(*a)) or walks[-1])
    rng = random.Random(seed)
    docs = mongomock.MongoClient(tz_aware=True)[f"embedded_ordered_{seed}"].docs
    for keys in INDEXED:
        docs.create_index(keys)
    for keys in SPARSE:
        docs.create_index(keys, sparse=True)
    docs.insert_many([{"_id": n, **{f: rng.choice(values) for f in "abc" if rng.random() < 0.8},
                       "d": {"e": rng.choice(SCALARS)}} for n in range(120)])
    n = 1000
    for _step in range(600):
        random_change(rng, docs, n, values)
        n += 1
        query = random_indexed_filter(rng)
        stored = list(docs._store._documents.values())
        as_stored = helpers.patch_datetime_awareness_in_document(query)  # naive UTC, as kept
        expected = [d["_id"] for d in stored if filtering.filter_applies(as_stored, d)]
        assert [d["_id"] for d in docs.find(query)] == expected, query
        assert docs.count_documents(query) == len(expected)
        field = rng.choice(["a", "b", "c"])
        direction = rng.choice([1, -1])
        limit = rng.choice([1, 2, 5])
        full = [d["_id"] for d in docs.find(query).sort(field, direction)]
        assert [d["_id"] for d in docs.find(query).sort(field, direction).limit(limit)] \
            == full[:limit], (query, field, direction)
        head = {"a": {"$in": rng.sample(values, 2)}}  # the shape of call-next's head
        if rng.random() < 0.5:
            head["b"] = {"$ne": rng.choice(values)}
        full = [d["_id"] for d in docs.find(head).sort("b", direction)]
        assert [d["_id"] for d in docs.find(head).sort("b", direction).limit(limit)] \
            == full[:limit], (head, direction)
    if values is ORDERED:
        assert sum(w is not None for w in walks) > 30, "the index walk was tried"
    indexes = embedded._indexes(docs._store)
    assert sum(index.sparse for index in indexes.indexes.values()) == len(SPARSE)
    for index in indexes.indexes.values():
        held = set(index.key_of) | index.loose
        assert held == {key for key, doc in docs._store._documents.items()
                        if not index.sparse or any(has_path(doc, f) for f in index.fields)}
        assert len(index.entries) == len(index.key_of)
        for key, entry in index.key_of.items():
            assert entry[:-1] == index.entry(docs._store._documents[key], 0)[:-1]


def test_call_next_shaped_queries_read_only_the_head(collection):
    """A sorted, limited query on an index's next field reads a handful of documents,
    however many match."""
    embedded.apply()
    docs = mongomock.MongoClient(tz_aware=True).embedded_head.tickets
    docs.create_index([("site", 1), ("status", 1), ("priority", 1), ("service", 1),
                       ("queue_key", 1)])
    docs.insert_many([{"_id": i, "site": "BWI", "status": "waiting", "priority": None,
                       "service": ["KTP", "KK"][i % 2], "queue_key": 10_000 - i}
                      for i in range(5000)])
    read = []
    original = mongomock.filtering.filter_applies
    query = {"site": "BWI", "status": "waiting", "priority": None,
             "service": {"$in": ["KTP", "KK"]}}
    try:
        mongomock.filtering.filter_applies = lambda q, d: read.append(d["_id"]) or original(q, d)
        head = list(docs.find(query, {"_id": 1}).sort("queue_key", 1).limit(1))
    finally:
        mongomock.filtering.filter_applies = original
    assert head == [{"_id": 4999}]
    assert len(read) <= 2
    assert docs.count_documents({**query, "queue_key": {"$lt": 5010}}) == 9


def test_a_sparse_index_serves_exists_and_never_a_query_for_missing():
    """``$exists: true`` on a sparse index reads the few documents that have the field
    (the transfer sweep's check), and a query that documents without it can match
    (null, ``$exists: false``) still finds them."""
    embedded.apply()
    docs = mongomock.MongoClient(tz_aware=True).embedded_sparse.tickets
    docs.create_index([("pending_leg._id", 1)], sparse=True)
    docs.insert_many([{"_id": i} for i in range(3000)]
                     + [{"_id": "t1", "pending_leg": {"_id": "n1"}},
                        {"_id": "t2", "pending_leg": {"_id": None}}])
    read = []
    original = mongomock.filtering.filter_applies
    try:
        mongomock.filtering.filter_applies = lambda q, d: read.append(d["_id"]) or original(q, d)
        pending = [d["_id"] for d in docs.find({"pending_leg._id": {"$exists": True}})]
    finally:
        mongomock.filtering.filter_applies = original
    assert pending == ["t1", "t2"]
    assert len(read) <= 2
    assert docs.count_documents({"pending_leg._id": None}) == 3001
    assert docs.count_documents({"pending_leg._id": {"$exists": False}}) == 3000
    assert docs.count_documents({"pending_leg._id": {"$in": ["n1", None]}}) == 3002


def test_a_sparse_index_on_a_path_through_an_array_keeps_those_documents():
    """The outbox's index (``outbox.queued_at``, sparse): a document whose ``outbox`` is
    a list of pending events is in it, and the sweep's query finds it."""
    embedded.apply()
    docs = mongomock.MongoClient(tz_aware=True).embedded_sparse_array.tickets
    docs.create_index([("outbox.queued_at", 1)], sparse=True)
    when = datetime(2026, 12, 7, tzinfo=UTC)
    docs.insert_many([{"_id": 1, "outbox": [{"queued_at": when}]}, {"_id": 2, "outbox": []},
                      {"_id": 3}])
    assert [d["_id"] for d in docs.find({"outbox.queued_at": {"$lte": when}})] == [1]
    assert [d["_id"] for d in docs.find({"outbox.queued_at": {"$exists": True}})] == [1]
