"""Revocation across processes: the catalog, queue, notify and reporting each run as a
process of its own (``nameko run``), and each keeps its own copy of the catalog's
revoked tokens. A deactivated operator and agency admin, a revoked kiosk and a revoked
API key are refused by every process within seconds; other credentials keep working.
"""

import secrets
import time
import uuid

import requests

from antre_devtools import harness
from antre_devtools.bench.load import AGENCY, catalog_document
from services import registry

# The system test's fixtures.
from tests.system.test_hall_in_production import durable_mongo_url, vhost  # noqa: F401

REFRESH_SECONDS = 2  # the default of REVOCATION_REFRESH_SECONDS
PASSWORD = "kata-sandi-rahasia"


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def start(tmp_path, vhost, mongo_url):  # noqa: F811 (vhost is the fixture's value)
    amqp_uri = harness.amqp_uri_for(harness.AMQP_URL, vhost.name)
    names = ("catalog", "queue", "notify", "reporting")
    ports = harness.free_ports(names)
    admin = secrets.token_urlsafe(24)
    env = harness.service_env(ports, amqp_uri, mongo_url, f"revoke{uuid.uuid4().hex[:6]}_",
                              admin)
    processes = [harness.ServiceProcess(registry.entry(name), ports[name], env, tmp_path)
                 for name in names]
    harness.start_all(processes, 60.0)
    return processes, {name: f"http://127.0.0.1:{ports[name]}" for name in names}, \
        bearer(admin)


def refused_within(seconds, request):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if request().status_code == 401:
            return True
        time.sleep(0.2)
    return False


def test_a_revocation_reaches_every_service_process_within_seconds(
        tmp_path, vhost, durable_mongo_url):  # noqa: F811
    processes, url, admin = start(tmp_path, vhost, durable_mongo_url)
    try:
        check_revocations(url, admin)
    finally:
        harness.stop_all(processes, 10.0)
    for process in processes:
        assert process.log_problems() == [], process.log_tail()


def check_revocations(url, admin):
    catalog = url["catalog"]

    def post(path, body=None, what=None):
        return harness.check(requests.post(f"{catalog}{path}", json=body, headers=admin,
                                           timeout=30), what or path)

    document = catalog_document(1, 2)
    post("/api/catalog/import", document, "catalog import")
    service = document["services"][0]["code"]
    counter = document["counters"][0]["code"]

    def account(name, role, counters=()):
        post("/api/catalog/accounts", {"username": name, "password": PASSWORD, "role": role,
                                       "agency": AGENCY["code"], "counters": list(counters)})
        answer = requests.post(f"{catalog}/api/catalog/auth/login", timeout=30,
                               json={"username": name, "password": PASSWORD})
        return bearer(harness.check(answer, f"login {name}")["token"])

    operator, other_operator = account("siti", "operator", [counter]), \
        account("budi", "operator", [counter])
    agency_admin = account("admin-instansi", "agency_admin")
    kiosk, other_kiosk = (post("/api/catalog/devices",
                               {"kind": "kiosk", "site": "BWI", "name": f"kiosk {n}"})
                          for n in (1, 2))
    key = post("/api/catalog/api-keys", {"name": "Grafana"})
    daily = f"{url['reporting']}/api/reporting/daily?site=BWI"

    def issue(headers):
        return requests.post(f"{url['queue']}/api/queue/tickets", headers=headers,
                             json={"service": service}, timeout=30)

    revoked = {
        "operator at queue": lambda: requests.post(
            f"{url['queue']}/api/queue/counters/{counter}/open", headers=operator, timeout=30),
        "agency admin at notify": lambda: requests.get(
            f"{url['notify']}/api/notify/webhooks", headers=agency_admin, timeout=30),
        "agency admin at reporting": lambda: requests.get(daily, headers=agency_admin,
                                                          timeout=30),
        "agency admin at catalog": lambda: requests.get(
            f"{catalog}/api/catalog/accounts", headers=agency_admin, timeout=30),
        "kiosk at queue": lambda: issue(bearer(kiosk["token"])),
        "API key at reporting": lambda: requests.get(daily, headers=bearer(key["key"]),
                                                     timeout=30),
    }
    kept = {
        "the other operator": lambda: requests.post(
            f"{url['queue']}/api/queue/counters/{counter}/open", headers=other_operator,
            timeout=30),
        "the other kiosk": lambda: issue(bearer(other_kiosk["token"])),
    }
    for what, use in {**revoked, **kept}.items():
        assert use().status_code in (200, 201), what

    revoked_at = time.monotonic()
    post("/api/catalog/accounts/siti/deactivate")
    post("/api/catalog/accounts/admin-instansi/deactivate")
    accounts = {what: use for what, use in revoked.items() if "admin" in what or
                "operator" in what}
    late = [what for what, use in accounts.items() if not refused_within(15, use)]
    assert late == [], f"still accepted 15 s after the deactivation: {late}"
    post(f"/api/catalog/devices/{kiosk['device_id']}/revoke")
    post(f"/api/catalog/api-keys/{key['key_id']}/revoke")
    late = [what for what, use in revoked.items() if not refused_within(15, use)]
    assert late == [], f"still accepted 15 s after the revocation: {late}"
    took = time.monotonic() - revoked_at
    for what, use in kept.items():
        assert use().status_code in (200, 201), f"{what} is refused too"
    print(f"every process refused the revoked credentials after {took:.1f} s "
          f"(REVOCATION_REFRESH_SECONDS={REFRESH_SECONDS})")
