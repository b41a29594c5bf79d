from services.kernel.infra.mongo import Collection


class CountingDatabase:
    """A database stand-in that counts look-ups and hands out one object per name."""

    def __init__(self):
        self.lookups = []

    def __getitem__(self, name):
        self.lookups.append(name)
        return f"collection:{name}"


class Store:
    tickets = Collection()
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
