"""The catalog's commands and repository against the configured Mongo store
(mongomock by default, a real MongoDB when MONGO_URL says so)."""

import pytest

from services.catalog import commands, queries
from services.catalog.domain import Change
from services.catalog.repository import CatalogRepository
from services.kernel.errors import InvalidInput

from .factories import agency, counter, document, service


@pytest.fixture
def repo(database):
    repository = CatalogRepository(database("catalog"))
    repository.ensure_indexes()
    return repository


def outbox_types(repo, kind):
    return [e["envelope"]["type"] for doc in repo.db[kind].find() for e in doc.get("outbox", [])]


def test_sample_catalog_loads_through_the_import_path_with_banyuwangi_counts(repo):
    summary = commands.load_sample(repo)
    assert summary["counts"]["agencies"] == 23
    assert summary["counts"]["services"] == 199
    agencies = repo.load().entities["agencies"]
    local = {code for code, a in agencies.items() if a["kind"] == "local_office"}
    assert len(local) == 11
    assert len(agencies) - len(local) == 12
    services = repo.load().entities["services"]
    assert len(services) == 199
    assert sum(1 for s in services.values() if s["agency"] in local) == 116
    assert sum(1 for s in services.values() if s["agency"] not in local) == 83
    counters = repo.load().entities["counters"]
    served = {code for c in counters.values() for code in c["services"]}
    assert served == set(services), "every service is served by some counter"
    assert {c["agency"] for c in counters.values()} == set(agencies)
    assert len(repo.load().entities["sites"]) == 1


def test_import_with_three_errors_reports_all_and_changes_nothing(repo):
    commands.import_catalog(repo, document())
    before = queries.export_catalog(repo)
    outbox_before = outbox_types(repo, "services")
    bad = document(services=[
        service(fee=-5000),                                    # a negative fee
        service(code="KK", agency="NOPE", ticket_prefix="B"),  # an unknown agency
        service(code="AKTA", ticket_prefix="A"),               # a prefix used twice in BWI
    ])
    with pytest.raises(InvalidInput) as caught:
        commands.import_catalog(repo, bad)
    assert caught.value.fields == {
        "services.0.fee": ["Biaya harus 0 (gratis) sampai 1 triliun rupiah."],
        "services.1.agency": ["Instansi 'NOPE' tidak dikenal."],
        "services.2.ticket_prefix": [
            "Awalan nomor antrean 'A' sudah dipakai layanan 'KTP-EL' di MPP 'BWI'."],
    }
    assert queries.export_catalog(repo) == before
    assert outbox_types(repo, "services") == outbox_before


def test_problems_of_references_and_schema_come_together(repo):
    bad = document(counters=[counter(), counter(code="L02", services=["GHOST"], zone=7)],
                   extra="x")
    with pytest.raises(InvalidInput) as caught:
        commands.import_catalog(repo, bad)
    assert set(caught.value.fields) == {"extra", "counters.1.zone", "counters.1.services.0"}
    assert repo.is_empty()


def test_schema_errors_name_every_field_at_once(repo):
    bad = document(services=[service(fee=-1, ticket_prefix="abc", daily_quota=0,
                                     completion_time={"amount": 0, "unit": "weeks"})],
                   sites=[{"code": "BWI", "name": "x", "timezone": "Mars/Olympus"}])
    with pytest.raises(InvalidInput) as caught:
        commands.import_catalog(repo, bad)
    assert set(caught.value.fields) == {
        "services.0.fee", "services.0.ticket_prefix", "services.0.daily_quota",
        "services.0.completion_time.amount", "services.0.completion_time.unit",
        "sites.0.timezone"}
    assert repo.is_empty()


def test_every_change_leaves_an_event_in_the_outbox(repo):
    commands.import_catalog(repo, document())
    assert outbox_types(repo, "services") == ["antre.catalog.service_created.v1"]
    commands.update(repo, "services", "KTP-EL", {"fee": 10000})
    commands.set_active(repo, "services", "KTP-EL", False)
    assert outbox_types(repo, "services") == [
        "antre.catalog.service_created.v1", "antre.catalog.service_updated.v1",
        "antre.catalog.service_deactivated.v1"]
    doc = repo.db.services.find_one({"_id": "KTP-EL"})
    assert doc["revision"] == 3
    assert doc["outbox"][1]["envelope"]["data"]["changed"] == ["fee"]


def test_an_unchanged_reimport_writes_nothing(repo):
    commands.import_catalog(repo, document())
    summary = commands.import_catalog(repo, document())
    assert summary["changes"] == {"created": 0, "updated": 0, "deactivated": 0, "activated": 0}


def test_dry_run_validates_without_writing(repo):
    summary = commands.import_catalog(repo, document(), dry_run=True)
    assert summary["changes"]["created"] == 4
    assert repo.is_empty()


def test_an_import_interrupted_by_a_crash_is_finished_at_recovery(repo):
    changes = repo.load().plan_import(commands.load_document(document())[0])
    # Simulate a crash after the change was logged and one entity written.
    repo.db.changes.insert_one({"_id": "c1", "status": "pending", "created_at": None,
                                "changes": [vars(c) for c in changes]})
    repo._apply_one("c1", changes[0])
    assert repo.recover() == 1
    assert repo.db.changes.find_one({"_id": "c1"})["status"] == "applied"
    assert len(queries.export_catalog(repo)["counters"]) == 1
    site_doc = repo.db.sites.find_one({"_id": "BWI"})
    assert len(site_doc["outbox"]) == 1, "the redo does not apply a change twice"
    assert repo.recover() == 0


def test_search_is_case_and_accent_insensitive_with_filters_and_paging(repo):
    commands.load_sample(repo)
    items, total = repo.find("services", {"q": "AKTA kelahiran"}, 50, 0)
    assert total == len(items) >= 2
    for found in items:
        text = f"{found['name']} {found['product']}".lower()
        assert "akta" in text and "kelahiran" in text
    accented, _ = repo.find("services", {"q": "ákta kélahiran"}, 50, 0)
    assert accented == items
    page1, total = repo.find("services", {"agency": "DISDUKCAPIL"}, 5, 0)
    page2, _ = repo.find("services", {"agency": "DISDUKCAPIL"}, 5, 5)
    assert len(page1) == 5 and total > 10
    assert not {s["code"] for s in page1} & {s["code"] for s in page2}
    first_counter = repo.find("counters", {"agency": "DISDUKCAPIL"}, 1, 0)[0][0]
    by_counter, n = repo.find("services", {"counter": first_counter["code"]}, 500, 0)
    assert {s["code"] for s in by_counter} == set(first_counter["services"]) and n > 0


def test_concurrent_create_of_the_same_code_is_a_conflict(repo):
    from services.kernel.errors import Conflict

    commands.import_catalog(repo, document())
    change = Change("agencies", "BPJS", "created", agency(code="BPJS", kind="state_company"))
    repo.apply([change])
    with pytest.raises(Conflict):
        repo.apply([Change("agencies", "BPJS", "created", agency(code="BPJS", kind="bank"))])


def test_an_export_imports_again_even_with_empty_optional_fields(repo):
    bare = document(sites=[{"code": "BWI", "name": "MPP", "timezone": "Asia/Jakarta"}],
                    counters=[{k: v for k, v in counter().items() if k != "zone"}])
    for field in ("product", "complaint_channel"):
        bare["services"][0].pop(field)
    commands.import_catalog(repo, bare)
    exported = queries.export_catalog(repo)
    assert exported["sites"][0]["address"] == "" and exported["counters"][0]["zone"] == ""
    summary = commands.import_catalog(repo, exported, mode="replace")
    assert sum(summary["changes"].values()) == 0


def test_an_update_must_give_nested_objects_whole(repo):
    commands.import_catalog(repo, document())
    with pytest.raises(InvalidInput) as caught:
        commands.update(repo, "services", "KTP-EL", {"completion_time": {"amount": 2}})
    assert caught.value.fields == {"completion_time.unit": ["Wajib diisi."]}
    with pytest.raises(InvalidInput) as caught:
        commands.update(repo, "sites", "BWI", {"opening_hours": [{"day": "monday"}]})
    assert set(caught.value.fields) == {"opening_hours.0.open", "opening_hours.0.close"}
    assert repo.get("services", "KTP-EL")["completion_time"] == {"amount": 1,
                                                                 "unit": "working_days"}
