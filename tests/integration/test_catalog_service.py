"""The catalog service running in a nameko container on the real broker."""

import json

import pytest
import yaml
from nameko.standalone.rpc import ServiceRpcProxy

from services.catalog.service import CatalogService
from services.kernel.errors import InvalidInput, NotFound
from tests.unit.catalog.factories import agency, document, service


@pytest.fixture
def catalog(container_factory, service_config):
    container = container_factory(CatalogService, service_config)
    container.start()
    return container


@pytest.fixture
def rpc(catalog, service_config):
    with ServiceRpcProxy("catalog", service_config) as proxy:
        yield proxy


@pytest.fixture
def loaded(rpc):
    rpc.import_catalog(document(
        agencies=[agency(), agency(code="BPJSKES", name="BPJS Kesehatan", kind="state_company")],
        services=[service(), service(code="AKTA-LAHIR", name="Akta Kelahiran", ticket_prefix="B"),
                  service(code="BPJS-DAFTAR", agency="BPJSKES", name="Pendaftaran Peserta",
                          ticket_prefix="C")],
    ))


def test_rpc_reads(rpc, loaded):
    assert rpc.get("services", "KTP-EL")["ticket_prefix"] == "A"
    assert rpc.get("sites", "BWI")["timezone"] == "Asia/Jakarta"
    assert rpc.list("services", agency="DISDUKCAPIL")["total"] == 2
    assert [s["code"] for s in rpc.services_of_counter("L01")] == ["KTP-EL"]
    assert [c["code"] for c in rpc.counters_of_service("KTP-EL")] == ["L01"]
    with pytest.raises(NotFound) as caught:
        rpc.get("services", "NOPE")
    assert caught.value.details == {"kind": "service", "code": "NOPE"}
    with pytest.raises(InvalidInput) as invalid:
        rpc.import_catalog(document(services=[service(fee=-1)]))
    assert invalid.value.fields == {
        "services.0.fee": ["Biaya harus 0 (gratis) sampai 1 triliun rupiah."]}


def test_http_lists_search_filters_and_paging(web_session, loaded):
    body = web_session.get("/api/catalog/services?q=AKTA%20kélahiran").json()
    assert body["total"] == 1 and len(body["items"]) == 1
    assert body["items"][0]["code"] == "AKTA-LAHIR"
    assert "_search" not in body["items"][0] and "outbox" not in body["items"][0]
    page = web_session.get("/api/catalog/services?limit=2&offset=2").json()
    assert page["total"] == 3 and [s["code"] for s in page["items"]] == ["KTP-EL"]
    agencies = web_session.get("/api/catalog/agencies?kind=state_company").json()
    assert [a["code"] for a in agencies["items"]] == ["BPJSKES"]
    assert web_session.get("/api/catalog/counters/L01").json()["services"] == ["KTP-EL"]
    assert web_session.get("/api/catalog/services/KTP-EL/counters").json()["total"] == 1


def test_http_errors_are_json_and_name_the_field(web_session, loaded):
    missing = web_session.get("/api/catalog/services/NOPE")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    bad = web_session.get("/api/catalog/services?limit=0&colour=red")
    assert bad.status_code == 400 and set(bad.json()["fields"]) == {"limit", "colour"}
    unknown_filter = web_session.get("/api/catalog/sites?agency=X")
    assert unknown_filter.status_code == 400 and "agency" in unknown_filter.json()["fields"]
    route = web_session.get("/api/catalog/nothing-here/x/y")
    assert route.status_code == 404 and route.json()["error"] == "not_found"
    assert web_session.get("/health").json()["status"] == "ok"


def test_admin_writes_need_the_token(web_session, loaded, admin_headers):
    anonymous = web_session.post("/api/catalog/agencies", json=agency(code="PLN"))
    assert anonymous.status_code == 401
    created = web_session.post("/api/catalog/agencies", headers=admin_headers,
                               json=agency(code="PLN", name="PLN", kind="state_company"))
    assert created.status_code == 201 and created.json()["code"] == "PLN"
    again = web_session.post("/api/catalog/agencies", headers=admin_headers,
                             json=agency(code="PLN", name="PLN", kind="state_company"))
    assert again.status_code == 409
    invalid = web_session.post("/api/catalog/services", headers=admin_headers,
                               json=service(code="X1", fee=-1, ticket_prefix="A", agency="GHOST"))
    assert invalid.status_code == 400
    assert invalid.json()["fields"] == {
        "fee": ["Biaya harus 0 (gratis) sampai 1 triliun rupiah."],
        "agency": ["Instansi 'GHOST' tidak dikenal."],
        "ticket_prefix": ["Awalan nomor antrean 'A' sudah dipakai layanan 'KTP-EL' di MPP 'BWI'."],
    }
    clash = web_session.post("/api/catalog/services", headers=admin_headers,
                             json=service(code="X1", ticket_prefix="A", agency="GHOST"))
    assert set(clash.json()["fields"]) == {"agency", "ticket_prefix"}
    patched = web_session.patch("/api/catalog/services/KTP-EL", headers=admin_headers,
                                json={"fee": 15000})
    assert patched.json()["fee"] == 15000
    renamed = web_session.patch("/api/catalog/services/KTP-EL", headers=admin_headers,
                                json={"code": "OTHER"})
    assert renamed.status_code == 400 and "code" in renamed.json()["fields"]
    off = web_session.post("/api/catalog/counters/L01/deactivate", headers=admin_headers)
    assert off.json()["active"] is False
    listed = web_session.get("/api/catalog/counters?active=true").json()
    assert listed["total"] == 0
    not_json = web_session.post("/api/catalog/agencies", headers=admin_headers, data="{oops")
    assert not_json.status_code == 400 and "_body" in not_json.json()["fields"]


def test_import_and_export_round_trip_in_yaml_and_json(catalog, web_session, admin_headers):
    text = yaml.safe_dump(document(), allow_unicode=True)
    imported = web_session.post("/api/catalog/import", data=text.encode(),
                                headers={**admin_headers, "Content-Type": "application/yaml"})
    assert imported.status_code == 200, imported.text
    assert imported.json()["changes"]["created"] == 4
    exported = web_session.get("/api/catalog/export?format=yaml", headers=admin_headers)
    assert exported.headers["Content-Type"].startswith("application/yaml")
    again = web_session.post("/api/catalog/import?mode=replace", data=exported.content,
                             headers={**admin_headers, "Content-Type": "application/yaml"})
    assert again.json()["changes"] == {"created": 0, "updated": 0, "deactivated": 0,
                                       "activated": 0}
    as_json = web_session.get("/api/catalog/export", headers=admin_headers).json()
    assert as_json == yaml.safe_load(exported.text)
    bad = web_session.post("/api/catalog/import", headers=admin_headers,
                           data=json.dumps(document(services=[service(fee=-1)])),)
    assert bad.status_code == 400 and "services.0.fee" in bad.json()["fields"]


def test_every_change_is_published_as_a_cloudevent(rpc, web_session, admin_headers, event_tap):
    tap = event_tap("catalog.#")
    rpc.import_catalog(document())
    web_session.patch("/api/catalog/services/KTP-EL", headers=admin_headers, json={"fee": 1})
    received = tap.drain(expected=5, timeout=3)  # relayed by the request, not the sweep
    keys = sorted(m["routing_key"] for m in received)
    assert keys == sorted([
        "catalog.site_created._site",
        "catalog.agency_created.DISDUKCAPIL", "catalog.service_created.DISDUKCAPIL",
        "catalog.counter_created.DISDUKCAPIL", "catalog.service_updated.DISDUKCAPIL"])
    update = next(m for m in received if m["routing_key"].startswith("catalog.service_updated"))
    assert update["content_type"] == "application/cloudevents+json"
    event = update["event"]
    assert event["specversion"] == "1.0" and event["source"] == "/antre/catalog"
    assert event["data"]["changed"] == ["fee"] and event["data"]["service"]["fee"] == 1
    assert len({m["event"]["id"] for m in received}) == 5
