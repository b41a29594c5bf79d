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
from mongomock import filtering

from services.kernel import embedded

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
             InsertOne({"_id": "b"}),  # dup
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
