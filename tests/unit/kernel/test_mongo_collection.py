import pytest
from pymongo.errors import DuplicateKeyError

from services.kernel.infra.mongo import Collection, Index, Repository


class CountingDatabase:
    """A database stand-in that counts look-ups and hands out one object per name."""

    def __init__(self):
        self.lookups = []

    def __getitem__(self, name):
        self.lookups.append(name)
        return f"collection:{name}"


class Store:
    tickets = Collection("tickets")
    bundles = Collection("ticket_events")

    def __init__(self, db):
        self.db = db


def test_a_declared_collection_is_the_named_collection_of_the_repository_database():
    db = CountingDatabase()
    store = Store(db)
    assert store.tickets == "collection:tickets"
    assert store.bundles == "collection:ticket_events"


def test_each_repository_looks_its_collection_up_once_and_a_copy_keeps_it():
    import copy

    db = CountingDatabase()
    store = Store(db)
    for _ in range(3):
        assert store.tickets == "collection:tickets"
    clone = copy.copy(store)
    assert clone.tickets == "collection:tickets"
    assert db.lookups == ["tickets"]
    other = Store(CountingDatabase())
    assert other.tickets == "collection:tickets" and other.db.lookups == ["tickets"]
    assert isinstance(Store.tickets, Collection)


class Deliveries(Repository):
    deliveries = Collection("deliveries", Index("status", "next_attempt_at"),
                            Index("webhook_id", "-created_at"))
    secrets = Collection("secrets", Index("code", unique=True))
    plain = Collection("plain")


def test_a_repository_creates_the_indexes_its_collections_declare(database):
    db = database("declared")
    repo = Deliveries(db)
    repo.ensure_indexes()
    repo.ensure_indexes()  # again at the next start: nothing changes
    keys = {name: info["key"] for name, info in db.deliveries.index_information().items()}
    assert keys["status_1_next_attempt_at_1"] == [("status", 1), ("next_attempt_at", 1)]
    assert keys["webhook_id_1_created_at_-1"] == [("webhook_id", 1), ("created_at", -1)]
    assert db.secrets.index_information()["code_1"].get("unique") is True
    repo.secrets.insert_one({"code": "A"})
    with pytest.raises(DuplicateKeyError):
        repo.secrets.insert_one({"code": "A"})
    assert list(db.plain.index_information()) in ([], ["_id_"])
