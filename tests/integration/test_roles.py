"""Who may do what, across the services, with real logins and device tokens.

Every denial the security issue names has its test here: an operator cannot act on
another agency's (or another counter's) work, a kiosk cannot call, a display cannot
issue, reports need a reader's key, agency admins stay in their agency; admin changes
are audit-logged; secrets are stored as slow hashes.
"""

import pytest

from services.catalog.service import CatalogService
from services.notify.service import NotifyService
from services.queue.service import QueueService
from services.reporting.service import ReportingService
from tests.conftest import ADMIN_TOKEN
from tests.integration.test_queue_service import hall_catalog

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def bearer(token):
    return {"Authorization": f"Bearer {token}"}



@pytest.fixture
def mpp(start_service, cluster, database):
    _, catalog = start_service(CatalogService)
    cluster.catalog.import_catalog(hall_catalog(counters=2))
    _, queue = start_service(QueueService)
    _, notify = start_service(NotifyService, WEBHOOK_ALLOWED_PRIVATE="127.0.0.1")
    _, reporting = start_service(ReportingService)

    def account(username, role, agency=None, counters=()):
        body = {"username": username, "password": "kata-sandi-rahasia", "role": role,
                "agency": agency, "counters": list(counters)}
        created = catalog.post("/api/catalog/accounts", headers=ADMIN, json=body)
        assert created.status_code == 201, created.text
        login = catalog.post("/api/catalog/auth/login",
                             json={"username": username, "password": "kata-sandi-rahasia"})
        assert login.status_code == 200, login.text
        return bearer(login.json()["token"])

    def device(kind, site="BWI"):
        answer = catalog.post("/api/catalog/devices", headers=ADMIN,
                              json={"kind": kind, "site": site, "name": f"{kind} 1"})
        assert answer.status_code == 201, answer.text
        return bearer(answer.json()["token"])

    key = catalog.post("/api/catalog/api-keys", headers=ADMIN, json={"name": "Grafana"}).json()
    return {
        "catalog": catalog, "queue": queue, "notify": notify, "reporting": reporting,
        "db": database("catalog"),
        "op_duk": account("siti", "operator", "DISDUKCAPIL", ["L01"]),
        "op_bpjs": account("budi", "operator", "BPJSKES", ["B01"]),
        "adm_duk": account("admin-duk", "agency_admin", "DISDUKCAPIL"),
        "kiosk": device("kiosk"), "display": device("display"),
        "viewer": bearer(key["key"]),
    }


def test_a_counter_s_waiting_list_is_for_its_own_operators(mpp):
    queue = mpp["queue"]
    queue.post("/api/queue/tickets", headers=mpp["kiosk"], json={"service": "KTP-EL"})
    mine = queue.get("/api/queue/counters/L01/waiting", headers=mpp["op_duk"])
    assert mine.status_code == 200 and mine.json()["total"] == 1
    for path, who in [("L02", "op_duk"), ("B01", "op_duk"), ("L01", "op_bpjs"),
                      ("L01", "kiosk"), ("L01", "display"), ("L01", "adm_duk")]:
        answer = queue.get(f"/api/queue/counters/{path}/waiting", headers=mpp[who])
        assert answer.status_code == 403, (path, who)
    assert queue.get("/api/queue/counters/B01/waiting", headers=mpp["op_bpjs"]).json() \
        ["total"] == 0


def test_operators_act_only_at_their_own_counters_and_agency(mpp):
    queue = mpp["queue"]
    assert queue.post("/api/queue/counters/L01/open", headers=mpp["op_duk"]).status_code == 200
    assert queue.post("/api/queue/counters/L02/open", headers=mpp["op_duk"]).status_code == 403
    assert queue.post("/api/queue/counters/B01/open", headers=mpp["op_duk"]).status_code == 403
    assert queue.post("/api/queue/counters/B01/open", headers=mpp["op_bpjs"]).status_code == 200
    bpjs = queue.post("/api/queue/tickets", headers=mpp["kiosk"], json={"service": "BPJS"}).json()
    queue.post("/api/queue/counters/B01/call-next", headers=mpp["op_bpjs"])
    start = f"/api/queue/tickets/{bpjs['ticket_id']}/start"
    denied = queue.post(start, headers=mpp["op_duk"], json={"counter": "B01"})
    assert denied.status_code == 403 and denied.json()["error"] == "forbidden"
    assert queue.post(start, headers=mpp["op_bpjs"], json={"counter": "B01"}).status_code == 200
    ticket_path = f"/api/queue/tickets/{bpjs['ticket_id']}"
    assert queue.get(ticket_path, headers=mpp["op_duk"]).status_code == 403
    assert queue.get(ticket_path, headers=mpp["op_bpjs"]).status_code == 200
    assert queue.post(f"{ticket_path}/cancel", headers=mpp["op_duk"]).status_code == 403
    listed = queue.get("/api/queue/tickets", headers=mpp["op_duk"]).json()
    assert listed["total"] == 0, "staff see their own agency's tickets only"


def test_a_kiosk_cannot_call_and_a_display_cannot_issue(mpp):
    queue = mpp["queue"]
    issued = queue.post("/api/queue/tickets", headers=mpp["kiosk"], json={"service": "KTP-EL"})
    assert issued.status_code == 201 and issued.json()["channel"] == "kiosk"
    assert queue.post("/api/queue/counters/L01/call-next",
                      headers=mpp["kiosk"]).status_code == 403
    assert queue.post("/api/queue/tickets", headers=mpp["display"],
                      json={"service": "KTP-EL"}).status_code == 403
    assert queue.post("/api/queue/tickets", headers=mpp["kiosk"],
                      json={"service": "KTP-EL", "site": "LBT"}).status_code == 403
    web = queue.post("/api/queue/tickets", json={"service": "KTP-EL", "channel": "kiosk"})
    assert web.status_code == 201 and web.json()["channel"] == "web", "anonymous means web"
    assert queue.post("/api/queue/tickets", headers=bearer("v1.forged.token"),
                      json={"service": "KTP-EL"}).status_code == 401


def test_reports_need_a_reader(mpp):
    reporting = mpp["reporting"]
    assert reporting.get("/api/reporting/daily?site=BWI").status_code == 401
    assert reporting.get("/api/reporting/daily?site=BWI", headers=mpp["viewer"]).status_code == 200
    assert reporting.get("/metrics", headers=mpp["viewer"]).status_code == 200
    assert reporting.get("/api/reporting/daily?site=BWI", headers=mpp["op_duk"]).status_code == 403
    assert reporting.get("/api/reporting/daily?site=BWI",
                         headers=bearer("ak_0123456789ab_not-the-right-secret")).status_code == 401
    assert reporting.post("/api/reporting/replay", headers=mpp["viewer"]).status_code == 403


def test_agency_admins_stay_in_their_agency(mpp):
    catalog, notify, adm = mpp["catalog"], mpp["notify"], mpp["adm_duk"]
    hook = {"url": "http://127.0.0.1:9/hook", "secret": "s" * 20}
    assert notify.post("/api/notify/webhooks", headers=adm,
                       json={"agency": "DISDUKCAPIL", **hook}).status_code == 201
    assert notify.post("/api/notify/webhooks", headers=adm,
                       json={"agency": "BPJSKES", **hook}).status_code == 403
    assert notify.post("/api/notify/webhooks", headers=adm, json={"agency": "*", **hook}) \
        .status_code == 403
    assert notify.post("/api/notify/webhooks", headers=mpp["op_duk"],
                       json={"agency": "DISDUKCAPIL", **hook}).status_code == 403
    operator = {"username": "rina", "password": "kata-sandi-rahasia", "role": "operator",
                "agency": "DISDUKCAPIL", "counters": ["L02"]}
    assert catalog.post("/api/catalog/accounts", headers=adm, json=operator).status_code == 201
    other = {**operator, "username": "dewi", "agency": "BPJSKES", "counters": ["B01"]}
    assert catalog.post("/api/catalog/accounts", headers=adm, json=other).status_code == 403
    boss = {**operator, "username": "boss", "role": "admin", "agency": None, "counters": []}
    assert catalog.post("/api/catalog/accounts", headers=adm, json=boss).status_code == 403
    assert catalog.patch("/api/catalog/services/KTP-EL", headers=adm,
                         json={"fee": 1}).status_code == 403
    assert catalog.patch("/api/catalog/services/KTP-EL", headers=mpp["kiosk"],
                         json={"fee": 1}).status_code == 403


def test_wrong_passwords_and_deactivated_accounts_are_refused(mpp):
    catalog = mpp["catalog"]
    wrong = catalog.post("/api/catalog/auth/login",
                         json={"username": "siti", "password": "bukan-ini-sandinya"})
    unknown = catalog.post("/api/catalog/auth/login",
                           json={"username": "nobody", "password": "bukan-ini-sandinya"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["message"] == unknown.json()["message"]
    catalog.post("/api/catalog/accounts/siti/deactivate", headers=ADMIN)
    again = catalog.post("/api/catalog/auth/login",
                         json={"username": "siti", "password": "kata-sandi-rahasia"})
    assert again.status_code == 401


def test_admin_changes_are_audited_and_secrets_stored_hashed(mpp):
    catalog = mpp["catalog"]
    catalog.patch("/api/catalog/services/KTP-EL", headers=ADMIN, json={"fee": 5000})
    entries = catalog.get("/api/catalog/audit", headers=ADMIN).json()["items"]
    change = next(e for e in entries if e["action"] == "service_updated")
    assert change["who"]["subject"] == "admin-token" and change["at"]
    assert change["target"] == {"kind": "service", "code": "KTP-EL"}
    assert (change["before"]["fee"], change["after"]["fee"]) == (0, 5000)
    created = next(e for e in entries if e["action"] == "account_created"
                   and e["target"]["code"] == "siti")
    assert "password" not in created["after"]
    assert catalog.get("/api/catalog/audit", headers=mpp["adm_duk"]).status_code == 403
    stored = mpp["db"].accounts.find_one({"_id": "siti"})["password"]
    assert stored.startswith("scrypt$") and "kata-sandi" not in stored
    key = mpp["db"].api_keys.find_one()
    assert key["hash"].startswith("scrypt$")


def test_an_operator_loses_a_counter_the_admin_moves_to_another_agency(mpp):
    queue, catalog = mpp["queue"], mpp["catalog"]
    assert queue.post("/api/queue/counters/L01/open", headers=mpp["op_duk"]).status_code == 200
    ticket = queue.post("/api/queue/tickets", headers=mpp["kiosk"],
                        json={"service": "KTP-EL"}).json()
    called = queue.post("/api/queue/counters/L01/call-next", headers=mpp["op_duk"]).json()
    assert called["ticket"]["ticket_id"] == ticket["ticket_id"]
    moved = catalog.patch("/api/catalog/counters/L01", headers=ADMIN,
                          json={"agency": "BPJSKES", "services": ["BPJS"]})
    assert moved.status_code == 200, moved.text
    start = f"/api/queue/tickets/{ticket['ticket_id']}/start"
    for method, path, body in [("post", start, {"counter": "L01"}),
                               ("post", "/api/queue/counters/L01/call-next", None),
                               ("post", "/api/queue/counters/L01/close", None),
                               ("get", "/api/queue/counters/L01", None)]:
        denied = getattr(queue, method)(path, headers=mpp["op_duk"], json=body)
        assert denied.status_code == 403, (path, denied.text)
        assert denied.json()["error"] == "forbidden"
        assert denied.json()["message"] == ("Loket L01 kini milik instansi BPJSKES, bukan "
                                            "instansi DISDUKCAPIL akun ini.")
    assert queue.post(start, headers=ADMIN, json={"counter": "L01"}).status_code == 200


def test_repeated_failed_logins_lock_the_account_and_the_address_in_every_process(
        start_service):
    """After LOGIN_MAX_FAILURES wrong passwords the account is refused (429, Retry-After)
    even with the right one, by every catalog process (the counters are in MongoDB); a
    success resets the account; an address that keeps failing is refused as well."""
    limits = {"LOGIN_MAX_FAILURES": "3", "LOGIN_MAX_FAILURES_PER_ADDRESS": "5",
              "LOGIN_LOCKOUT_SECONDS": "120"}
    _, first = start_service(CatalogService, **limits)
    _, second = start_service(CatalogService, **limits)
    for name in ("siti", "budi"):
        created = first.post("/api/catalog/accounts", headers=ADMIN, json={
            "username": name, "password": "kata-sandi-rahasia", "role": "admin",
            "agency": None, "counters": []})
        assert created.status_code == 201, created.text

    def login(http, name, password, address):
        return http.post("/api/catalog/auth/login", headers={"X-Real-IP": address},
                         json={"username": name, "password": password})

    assert login(first, "siti", "salah-sandi", "198.51.100.1").status_code == 401
    assert login(second, "siti", "salah-sandi", "198.51.100.2").status_code == 401
    assert login(first, "siti", "kata-sandi-rahasia", "198.51.100.3").status_code == 200, \
        "a success resets the account's count"
    for address in ("198.51.100.4", "198.51.100.5", "198.51.100.6"):
        assert login(first, "siti", "salah-sandi", address).status_code == 401
    locked = login(second, "siti", "kata-sandi-rahasia", "198.51.100.7")
    assert locked.status_code == 429, locked.text
    assert 0 < int(locked.headers["Retry-After"]) <= 120
    assert locked.json()["error"] == "too_many_requests"
    assert locked.json()["limit"] == "login_account"
    assert login(first, "budi", "kata-sandi-rahasia", "198.51.100.7").status_code == 200, \
        "another account is not locked"

    # One address trying many names: locked after LOGIN_MAX_FAILURES_PER_ADDRESS.
    for n in range(5):
        assert login(first, f"tebak{n}", "salah-sandi", "203.0.113.9").status_code == 401
    refused = login(second, "budi", "kata-sandi-rahasia", "203.0.113.9")
    assert refused.status_code == 429 and refused.json()["limit"] == "login_address"
    assert int(refused.headers["Retry-After"]) > 0
    assert login(second, "budi", "kata-sandi-rahasia", "203.0.113.10").status_code == 200
