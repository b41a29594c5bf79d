"""The wire_mongo test server, checked through the real pymongo driver.

One server process for the module; every test gets a database of its own on it. These
tests check the operations the services use, and that the data lives in the server, not
in the client: it outlives a client that disconnects.
"""

import os
import re
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pymongo import ASCENDING, DESCENDING, MongoClient, ReturnDocument
from pymongo.errors import DuplicateKeyError, OperationFailure
from pymongo.write_concern import WriteConcern

from tests.system.wire_mongo import ROOT, spawn_server, stop_server


def connect(url):
    return MongoClient(url, tz_aware=True, serverSelectionTimeoutMS=5000)


@pytest.fixture(scope="module")
def server_url():
    process, url = spawn_server()
    yield url
    stop_server(process)


@pytest.fixture
def client(server_url):
    client = connect(server_url)
    yield client
    client.close()


@pytest.fixture
def db(client):
    name = f"wire_{uuid.uuid4().hex[:10]}"
    yield client[name]
    client.drop_database(name)


def test_handshake_and_server_info(client):
    assert client.admin.command("ping")["ok"] == 1.0
    info = client.server_info()
    assert info["version"] == "6.0.0-wire-mongomock"
    hello = client.admin.command("hello")
    assert hello["isWritablePrimary"] is True
    assert "topologyVersion" not in hello and "compression" not in hello


def test_insert_and_find_with_sort_skip_limit_projection(db):
    first = db.people.insert_one({"name": "ana", "age": 31})
    assert db.people.find_one({"_id": first.inserted_id})["name"] == "ana"
    people = [("budi", 25), ("citra", 40), ("dewi", 35), ("eko", 28)]
    result = db.people.insert_many([{"name": name, "age": age} for name, age in people])
    assert len(result.inserted_ids) == 4

    names = [doc["name"] for doc in db.people.find({}, sort=[("age", DESCENDING)], skip=1, limit=2)]
    assert names == ["dewi", "ana"]
    projected = list(db.people.find({"age": {"$gte": 30}}, {"_id": 0, "name": 1}).sort("name", ASCENDING))
    assert projected == [{"name": "ana"}, {"name": "citra"}, {"name": "dewi"}]
    assert db.people.find_one({"name": re.compile("^CI", re.IGNORECASE)})["age"] == 40
    assert db.people.find_one({"name": "nobody"}) is None


def test_find_beyond_the_first_batch_uses_get_more(db):
    db.items.insert_many([{"i": i} for i in range(250)])
    assert [doc["i"] for doc in db.items.find().sort("i", ASCENDING)] == list(range(250))
    assert [doc["i"] for doc in db.items.find().sort("i", ASCENDING).batch_size(7)] == list(range(250))
    assert len(list(db.items.find().limit(150))) == 150
    assert len(list(db.items.find().limit(-5))) == 5

    cursor = db.items.find().batch_size(10)
    next(cursor)
    cursor.close()  # killCursors
    assert db.items.count_documents({}) == 250


def test_update_operators_and_upsert(db):
    db.posts.insert_one({"_id": 1, "title": "a", "views": 1, "tags": ["x"], "draft": True})
    result = db.posts.update_one({"_id": 1}, {
        "$set": {"title": "b"},
        "$inc": {"views": 2},
        "$push": {"tags": {"$each": ["y", "z", "w"], "$slice": -3}},
        "$unset": {"draft": ""},
    })
    assert (result.matched_count, result.modified_count) == (1, 1)
    assert db.posts.find_one({"_id": 1}) == {"_id": 1, "title": "b", "views": 3, "tags": ["y", "z", "w"]}

    db.posts.update_one({"_id": 1}, {"$pull": {"tags": "z"}})
    assert db.posts.find_one({"_id": 1})["tags"] == ["y", "w"]

    upserted = db.posts.update_one({"slug": "new"}, {"$set": {"title": "n"}, "$setOnInsert": {"views": 0}},
                                   upsert=True)
    assert upserted.upserted_id is not None and upserted.matched_count == 0
    again = db.posts.update_one({"slug": "new"}, {"$set": {"title": "m"}, "$setOnInsert": {"views": 99}},
                                upsert=True)
    assert again.upserted_id is None and again.matched_count == 1
    assert db.posts.find_one({"slug": "new"}, {"_id": 0}) == {"slug": "new", "title": "m", "views": 0}

    many = db.posts.update_many({}, {"$set": {"seen": True}})
    assert many.matched_count == 2
    assert db.posts.count_documents({"seen": True}) == 2


def test_replace_one(db):
    db.docs.insert_one({"_id": "k", "a": 1, "b": 2})
    result = db.docs.replace_one({"_id": "k"}, {"c": 3})
    assert result.modified_count == 1
    assert db.docs.find_one({"_id": "k"}) == {"_id": "k", "c": 3}
    upsert = db.docs.replace_one({"_id": "other"}, {"d": 4}, upsert=True)
    assert upsert.upserted_id == "other"


def test_find_one_and_update_is_an_atomic_counter(db):
    values, errors = [], []

    def take_one():
        try:
            doc = db.counters.find_one_and_update({"_id": "tickets"}, {"$inc": {"seq": 1}}, upsert=True,
                                                  return_document=ReturnDocument.AFTER)
            values.append(doc["seq"])
        except Exception as exc:  # collected and asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=take_one) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    assert sorted(values) == list(range(1, 51))

    before = db.counters.find_one_and_update({"_id": "tickets"}, {"$set": {"seq": 0}},
                                             projection={"_id": 0})
    assert before == {"seq": 50}
    assert db.counters.find_one_and_update({"_id": "none"}, {"$set": {"x": 1}}) is None
    removed = db.counters.find_one_and_delete({"_id": "tickets"})
    assert removed["seq"] == 0 and db.counters.count_documents({}) == 0


def test_find_one_and_update_with_sort_picks_the_first(db):
    db.jobs.insert_many([{"n": 3, "state": "new"}, {"n": 1, "state": "new"}, {"n": 2, "state": "new"}])
    taken = db.jobs.find_one_and_update({"state": "new"}, {"$set": {"state": "taken"}},
                                        sort=[("n", ASCENDING)], return_document=ReturnDocument.AFTER)
    assert (taken["n"], taken["state"]) == (1, "taken")


def test_delete_count_estimate_and_distinct(db):
    db.things.insert_many([{"kind": kind, "i": i} for i, kind in enumerate("aabbbc")])
    assert db.things.count_documents({"kind": "b"}) == 3
    assert db.things.count_documents({}, skip=2, limit=3) == 3
    assert db.things.estimated_document_count() == 6
    assert sorted(db.things.distinct("kind")) == ["a", "b", "c"]
    assert db.things.distinct("i", {"kind": "a"}) == [0, 1]
    assert db.things.delete_many({"kind": "b"}).deleted_count == 3
    assert db.things.delete_one({"kind": "a"}).deleted_count == 1
    assert db.things.count_documents({}) == 2


def test_aggregate(db):
    db.sales.insert_many([{"site": "a", "n": 1}, {"site": "a", "n": 2}, {"site": "b", "n": 5}])
    totals = list(db.sales.aggregate([{"$group": {"_id": "$site", "total": {"$sum": "$n"}}},
                                      {"$sort": {"_id": 1}}]))
    assert totals == [{"_id": "a", "total": 3}, {"_id": "b", "total": 5}]


def test_unique_index_raises_duplicate_key(db):
    db.seats.create_index([("site", ASCENDING), ("seq", ASCENDING)], unique=True)
    db.seats.insert_one({"site": "s", "seq": 1})
    with pytest.raises(DuplicateKeyError):
        db.seats.insert_one({"site": "s", "seq": 1})
    db.seats.insert_one({"site": "s", "seq": 2})
    with pytest.raises(DuplicateKeyError):
        db.seats.find_one_and_update({"seq": 2}, {"$set": {"seq": 1}})
    assert db.seats.count_documents({}) == 2
    info = db.seats.index_information()
    assert info["site_1_seq_1"]["unique"] is True and info["site_1_seq_1"]["key"] == [("site", 1), ("seq", 1)]


def test_sparse_unique_index_allows_many_without_the_field(db):
    db.tickets.create_index([("active_counter", ASCENDING)], unique=True, sparse=True)
    db.tickets.insert_many([{"n": i} for i in range(5)])
    db.tickets.insert_one({"active_counter": "c1"})
    with pytest.raises(DuplicateKeyError):
        db.tickets.insert_one({"active_counter": "c1"})
    assert db.tickets.count_documents({}) == 6


def test_tz_aware_datetimes_round_trip_as_utc(db):
    moment = datetime(2026, 3, 1, 15, 30, 15, 123000, tzinfo=ZoneInfo("Asia/Jakarta"))
    db.events.insert_one({"_id": 1, "at": moment})
    stored = db.events.find_one({"_id": 1})["at"]
    assert stored == moment and stored.utcoffset() == timedelta(0)
    assert (stored.hour, stored.minute) == (8, 30)
    assert stored == datetime(2026, 3, 1, 8, 30, 15, 123000, tzinfo=UTC)
    assert db.events.count_documents({"at": {"$gt": moment - timedelta(seconds=1)}}) == 1


def test_databases_and_collections(client):
    name = f"wire_{uuid.uuid4().hex[:10]}"
    client[name].alpha.insert_one({})
    client[name].beta.create_index("x")
    assert name in client.list_database_names()
    assert sorted(client[name].list_collection_names()) == ["alpha", "beta"]
    assert client[name].list_collection_names(filter={"name": "beta"}) == ["beta"]
    client[name].drop_collection("alpha")
    client[name].drop_collection("never-existed")
    assert client[name].list_collection_names() == ["beta"]
    client.drop_database(name)
    assert name not in client.list_database_names()


def test_errors_are_replies_and_keep_the_connection(client, db):
    with pytest.raises(OperationFailure) as failure:
        db.command("noSuchCommand")
    assert failure.value.code == 59
    with pytest.raises(OperationFailure):
        db.things.update_one({}, [{"$set": {"a": 1}}])  # pipeline updates are not supported
    assert db.command("ping")["ok"] == 1.0


def test_unacknowledged_writes_are_executed(db):
    db.get_collection("quiet", write_concern=WriteConcern(w=0)).insert_one({"_id": "q"})
    deadline = time.monotonic() + 5
    while db.quiet.find_one({"_id": "q"}) is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_data_survives_the_client(server_url):
    name = f"wire_{uuid.uuid4().hex[:10]}"
    first = connect(server_url)
    first[name].kept.insert_many([{"i": i} for i in range(3)])
    first[name].kept.create_index("i", unique=True)
    first.close()

    second = connect(server_url)
    try:
        assert sorted(doc["i"] for doc in second[name].kept.find()) == [0, 1, 2]
        with pytest.raises(DuplicateKeyError):
            second[name].kept.insert_one({"i": 0})
    finally:
        second.drop_database(name)
        second.close()


def test_the_unit_suite_passes_through_the_real_driver(server_url):
    """Every unit test that stores something, run again with ``MONGO_URL`` naming this
    server: the repositories through pymongo, BSON and a socket, not mongomock in-process."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/unit", "-q", "-p", "no:cacheprovider", "-x"],
        cwd=ROOT, env={**os.environ, "MONGO_URL": server_url}, capture_output=True, text=True,
        timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout.splitlines()[-1]
