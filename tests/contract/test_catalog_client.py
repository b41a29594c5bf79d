"""One contract for the catalog client, run against every implementation: the real
``CatalogClient`` over the catalog service's RPC (a catalog container in the test's
vhost), and ``antre_devtools.fakes.FakeCatalog`` that the unit tests and the flat benchmark use. A fake that
drifts from the real client fails here, not in a unit test that trusted it.
"""

import pytest

from antre_devtools.fakes import FakeCatalog
from services.catalog.service import CatalogService
from services.kernel.catalog import CatalogClient, TtlCache
from services.kernel.errors import NotFound
from services.kernel.revocation import RevocationList
from tests.conftest import ADMIN_TOKEN
from tests.unit.catalog.factories import agency, counter, document, service, site


def catalog_document():
    return document(
        sites=[site(), site(code="SBY", name="MPP Surabaya")],
        agencies=[agency(), agency(code="BPJSKES", name="BPJS Kesehatan", kind="state_company"),
                  agency(code="OLD", name="Kantor Lama", active=False)],
        services=[service(),
                  service(code="AKTA", name="Akta Kelahiran", ticket_prefix="B"),
                  service(code="RETIRED", name="Layanan Lama", ticket_prefix="C", active=False),
                  service(code="SBY-KTP", site="SBY", name="KTP Surabaya", ticket_prefix="D")],
        counters=[counter(), counter(code="L02", name="Loket 2", services=["KTP-EL", "AKTA"])])


class Real:
    """The catalog service, asked through the client every other service uses."""

    def __init__(self, start_service, cluster):
        _, self.http = start_service(CatalogService)
        cluster.catalog.import_catalog(catalog_document())
        self.cluster = cluster
        self.client = CatalogClient(cluster.catalog, TtlCache(60), RevocationList(0))

    def rename_counter(self, code, name):
        record = self.cluster.catalog.get("counters", code)
        record["name"] = name
        self.cluster.catalog.import_catalog({"version": 1, "counters": [record]})

    def revoke_a_device(self):
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        device = self.http.post("/api/catalog/devices", headers=admin,
                                json={"kind": "kiosk", "site": "BWI", "name": "Lobi"}).json()
        self.http.post(f"/api/catalog/devices/{device['device_id']}/revoke", headers=admin)
        return f"device:{device['device_id']}"


class Fake:
    def __init__(self):
        self.client = FakeCatalog.from_document(catalog_document())

    def rename_counter(self, code, name):
        self.client.put("counters", {**self.client.counter(code), "name": name})

    def revoke_a_device(self):
        self.client.revoke("device:5f2c9a1e7b3d")
        return "device:5f2c9a1e7b3d"


@pytest.fixture(params=["real", "fake"])
def catalog(request):
    if request.param == "fake":
        return Fake()
    return Real(request.getfixturevalue("start_service"), request.getfixturevalue("cluster"))


def test_records_by_code(catalog):
    client = catalog.client
    assert (client.site("BWI")["name"], client.site("BWI")["timezone"]) == \
        ("MPP Banyuwangi", "Asia/Jakarta")
    assert client.service("AKTA")["site"] == "BWI"
    assert client.service("AKTA")["agency"] == "DISDUKCAPIL"
    assert client.agency("BPJSKES")["name"] == "BPJS Kesehatan"
    assert client.counter("L02")["services"] == ["KTP-EL", "AKTA"]
    assert client.current_counter("L02")["site"] == "BWI"


@pytest.mark.parametrize("lookup", ["site", "service", "agency", "counter", "current_counter"])
def test_an_unknown_code_is_not_found(catalog, lookup):
    with pytest.raises(NotFound) as raised:
        getattr(catalog.client, lookup)("NOPE")
    assert raised.value.details["code"] == "NOPE"


def test_a_sites_services_are_its_active_ones(catalog):
    assert sorted(s["code"] for s in catalog.client.services_of_site("BWI")) == \
        ["AKTA", "KTP-EL"]
    assert [s["code"] for s in catalog.client.services_of_site("SBY")] == ["SBY-KTP"]


def test_the_agencies_are_the_active_ones(catalog):
    assert sorted(a["code"] for a in catalog.client.agencies()) == ["BPJSKES", "DISDUKCAPIL"]


def test_names_cover_retired_agencies_and_the_sites_services_only(catalog):
    names = catalog.client.names("BWI")
    assert names[("agencies", "OLD")] == "Kantor Lama"
    assert names[("services", "RETIRED")] == "Layanan Lama"
    assert ("services", "SBY-KTP") not in names


def test_the_current_counter_sees_a_change_at_once(catalog):
    assert catalog.client.current_counter("L01")["name"] == "Loket 1"
    catalog.rename_counter("L01", "Loket Satu")
    assert catalog.client.current_counter("L01")["name"] == "Loket Satu"


def test_a_revoked_token_is_refused_and_others_are_not(catalog):
    client = catalog.client
    assert not client.revoked({"sub": "device:000000000000", "role": "kiosk"})
    subject = catalog.revoke_a_device()
    assert client.revoked({"sub": subject, "role": "kiosk"})
    assert not client.revoked({"sub": "account:siti", "role": "operator"})
