"""A queue with a fake catalog and a clock the test moves (fakes, not mocks)."""


import pytest

from antre_devtools.costs import Clock
from antre_devtools.fakes import FakeCatalog
from services.queue.commands import QueueCommands
from services.queue.queries import QueueQueries, Settings
from services.queue.repository import QueueRepository
from tests.unit.catalog.factories import agency, counter, service, site


def default_catalog():
    services = [
        service(),  # KTP-EL, prefix A, quota 100, 10 typical minutes
        service(code="AKTA", name="Akta Kelahiran", ticket_prefix="B", daily_quota=None),
        service(code="KK", name="Kartu Keluarga", ticket_prefix="C", daily_quota=3),
        service(code="BPJS", agency="BPJSKES", name="Pendaftaran BPJS", ticket_prefix="D"),
    ]
    counters = [
        counter(code="L01", services=["KTP-EL", "AKTA"]),
        counter(code="L02", services=["KTP-EL", "AKTA"]),
        counter(code="L03", services=["KK"]),
        counter(code="L09", agency="BPJSKES", services=["BPJS"]),
    ]
    return FakeCatalog([site()], services, counters,
                       [agency(), agency(code="BPJSKES", name="BPJS Kesehatan")])


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def catalog():
    return default_catalog()


@pytest.fixture
def repo(database):
    repository = QueueRepository(database("queue"))
    repository.ensure_indexes()
    return repository


@pytest.fixture
def queue(repo, catalog, clock):
    return QueueCommands(repo, catalog, clock, Settings(max_priority_streak=2,
                                                        no_show_after_recalls=2))


@pytest.fixture
def queries(repo, catalog, clock):
    return QueueQueries(repo, catalog, clock, Settings(max_priority_streak=2,
                                                       no_show_after_recalls=2))


def outbox_events(repo, collection="tickets"):
    """Every pending event of a collection, oldest first."""
    events = [entry["envelope"] for doc in repo.db[collection].find()
              for entry in doc.get("outbox", [])]
    return sorted(events, key=lambda e: e["time"])
