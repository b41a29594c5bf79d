"""Who may do what, across the services, with real logins and device tokens.

Every denial the security issue names has its test here: an operator cannot act on
another agency's (or another counter's) work, a kiosk cannot call, a display cannot
issue, reports need a reader's key, agency admins stay in their agency; admin changes
are audit-logged; secrets are stored as slow hashes.
"""

import csv
import io
import time

import eventlet
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


def test_reports_of_an_agency_bound_reader_cover_its_agency_only(mpp, cluster):
    """An agency admin and an API key created for one agency read that agency's figures
    only (totals too) in every report, CSV and /metrics, and are refused another
    agency's; the admin and a whole-site report viewer read every agency, or one."""
    queue, catalog, reporting = mpp["queue"], mpp["catalog"], mpp["reporting"]
    scores = {f"u{i}": 4 for i in range(1, 10)}
    for service, counter, staff, score in (("KTP-EL", "L01", mpp["op_duk"], 3),
                                           ("BPJS", "B01", mpp["op_bpjs"], 4)):
        ticket = queue.post("/api/queue/tickets", headers=mpp["kiosk"],
                            json={"service": service}).json()
        assert queue.post(f"/api/queue/counters/{counter}/open", headers=staff).status_code == 200
        assert queue.post(f"/api/queue/counters/{counter}/call-next",
                          headers=staff).status_code == 200
        path = f"/api/queue/tickets/{ticket['ticket_id']}"
        for action in ("start", "complete"):
            done = queue.post(f"{path}/{action}", headers=staff, json={"counter": counter})
            assert done.status_code == 200, done.text
        rated = queue.post(f"{path}/feedback", headers={"X-Ticket-Secret": ticket["secret"]},
                           json={"scores": {**scores, "u1": score}})
        assert rated.status_code == 201, rated.text
    assert queue.post("/api/queue/tickets", headers=mpp["kiosk"],
                      json={"service": "KTP-EL"}).status_code == 201  # DISDUKCAPIL: one waits
    key = catalog.post("/api/catalog/api-keys", headers=ADMIN,
                       json={"name": "Grafana Disdukcapil", "agency": "DISDUKCAPIL"})
    assert key.status_code == 201, key.text
    duk_key = bearer(key.json()["key"])

    with eventlet.Timeout(30):
        while True:
            report = cluster.reporting.daily("BWI")
            day = report["date"]
            if report["totals"]["issued"] == 3 and report["totals"]["served"] == 2 and \
                    cluster.reporting.ikm("BWI", day, day)["overall"]["respondents"] == 2:
                break
            eventlet.sleep(0.1)

    def get(path, who):
        return reporting.get(path, headers=who)

    daily, csv_path = f"/api/reporting/daily?site=BWI&date={day}", \
        f"/api/reporting/daily.csv?site=BWI&date={day}"
    breakdown = f"/api/reporting/breakdown?site=BWI&date={day}"
    ikm, ikm_csv = (f"/api/reporting/ikm?site=BWI&from={day}&to={day}",
                    f"/api/reporting/ikm.csv?site=BWI&from={day}&to={day}")
    for who in (mpp["adm_duk"], duk_key):
        for narrowed in ("", "&agency=DISDUKCAPIL"):
            own = get(daily + narrowed, who)
            assert own.status_code == 200, own.text
            own = own.json()
            assert (own["totals"]["issued"], own["totals"]["served"]) == (2, 1), \
                "the totals are the agency's, not the site's"
            assert [a["agency"] for a in own["agencies"]] == ["DISDUKCAPIL"]
            assert {s["agency"] for s in own["services"]} == {"DISDUKCAPIL"}
            assert {c["agency"] for c in own["counters"]} == {"DISDUKCAPIL"}
        rows = list(csv.DictReader(io.StringIO(get(csv_path, who).text)))
        assert rows[0]["scope"] == "site" and rows[0]["issued"] == "2"
        assert {r["agency"] for r in rows[1:]} == {"DISDUKCAPIL"}
        assert {r["agency"] for r in get(breakdown, who).json()["rows"]} == {"DISDUKCAPIL"}
        index = get(ikm, who).json()
        assert index["overall"]["respondents"] == 1
        assert [a["agency"] for a in index["agencies"]] == ["DISDUKCAPIL"]
        ikm_rows = list(csv.reader(io.StringIO(get(ikm_csv, who).text)))
        assert [r[1] for r in ikm_rows[1:] if r[0] == "agency"] == ["DISDUKCAPIL"]
        assert ikm_rows[1][:3] == ["site", "BWI", "1"]
        metrics = get("/metrics", who)
        assert metrics.status_code == 200, metrics.text
        assert 'antre_served_today{site="BWI",agency="DISDUKCAPIL"} 1' in metrics.text
        assert "BPJSKES" not in metrics.text
        assert "antre_events_ingested_total" not in metrics.text, "the MPP's, not an agency's"
        for path in (daily, csv_path, breakdown, ikm, ikm_csv, "/metrics?"):
            other = get(f"{path}&agency=BPJSKES", who)
            assert other.status_code == 403, (path, other.text)
            assert other.json() == {"error": "forbidden", "field": "agency",
                                    "agency": "DISDUKCAPIL",
                                    "message": "Kredensial ini hanya membaca laporan instansi "
                                               "DISDUKCAPIL."}

    for who in (ADMIN, mpp["viewer"]):
        everything = get(daily, who).json()
        assert (everything["totals"]["issued"], everything["totals"]["served"]) == (3, 2)
        assert [a["agency"] for a in everything["agencies"]] == ["BPJSKES", "DISDUKCAPIL"]
        assert get(ikm, who).json()["overall"]["respondents"] == 2
        metrics = get("/metrics", who).text
        assert 'agency="BPJSKES"' in metrics and 'agency="DISDUKCAPIL"' in metrics
        assert "antre_events_ingested_total" in metrics
        one = get(f"{daily}&agency=BPJSKES", who).json()
        assert (one["totals"]["issued"], one["totals"]["served"]) == (1, 1)
        assert [a["agency"] for a in one["agencies"]] == ["BPJSKES"]
        assert "DISDUKCAPIL" not in get("/metrics?agency=BPJSKES", who).text


def refused_within(seconds, request):
    """Whether ``request()`` answers 401 within ``seconds`` (asked every 0.2 s)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if request().status_code == 401:
            return True
        time.sleep(0.2)
    return False


def test_deactivation_and_device_and_key_revocation_reach_every_service_within_seconds(mpp):
    """Each service keeps its own copy of the catalog's revocations: a deactivated
    account, a revoked kiosk and a revoked API key are refused by each within seconds
    (REVOCATION_REFRESH_SECONDS, default 2), while other credentials keep working."""
    catalog, queue, notify, reporting = (mpp[n] for n in ("catalog", "queue", "notify",
                                                          "reporting"))
    kiosk = catalog.post("/api/catalog/devices", headers=ADMIN,
                         json={"kind": "kiosk", "site": "BWI", "name": "lobi"}).json()
    key = catalog.post("/api/catalog/api-keys", headers=ADMIN, json={"name": "Grafana 2"}).json()
    uses = {
        "operator at queue": lambda: queue.get("/api/queue/tickets", headers=mpp["op_duk"]),
        "agency admin at catalog": lambda: catalog.get("/api/catalog/accounts",
                                                       headers=mpp["adm_duk"]),
        "agency admin at notify": lambda: notify.get("/api/notify/webhooks",
                                                     headers=mpp["adm_duk"]),
        "agency admin at reporting": lambda: reporting.get("/api/reporting/daily?site=BWI",
                                                           headers=mpp["adm_duk"]),
        "kiosk at queue": lambda: queue.post("/api/queue/tickets", headers=bearer(kiosk["token"]),
                                             json={"service": "KTP-EL"}),
        "API key at reporting": lambda: reporting.get("/api/reporting/daily?site=BWI",
                                                      headers=bearer(key["key"])),
    }
    for what, use in uses.items():
        assert use().status_code in (200, 201), what
    others = {"the other kiosk": lambda: queue.post("/api/queue/tickets", headers=mpp["kiosk"],
                                                   json={"service": "KTP-EL"}),
              "the other operator": lambda: queue.get("/api/queue/tickets",
                                                      headers=mpp["op_bpjs"]),
              "the other key": lambda: reporting.get("/metrics", headers=mpp["viewer"])}

    for path in ("/api/catalog/accounts/siti/deactivate",
                 "/api/catalog/accounts/admin-duk/deactivate",
                 f"/api/catalog/devices/{kiosk['device_id']}/revoke",
                 f"/api/catalog/api-keys/{key['key_id']}/revoke"):
        assert catalog.post(path, headers=ADMIN).status_code == 200, path
    assert uses["agency admin at catalog"]().status_code == 401, "the catalog refuses at once"
    late = [what for what, use in uses.items() if not refused_within(10, use)]
    assert late == [], f"still accepted after 10 s: {late}"
    assert all(use().status_code in (200, 201) for use in others.values())

    catalog.post("/api/catalog/accounts/siti/activate", headers=ADMIN)
    again = catalog.post("/api/catalog/auth/login",
                         json={"username": "siti", "password": "kata-sandi-rahasia"})
    assert queue.get("/api/queue/tickets", headers=bearer(again.json()["token"])) \
        .status_code == 200, "a new login after activation works at once"
    assert uses["operator at queue"]().status_code == 401, "the old token stays refused"
