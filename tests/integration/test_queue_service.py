"""The queue service with the catalog service, on the real broker."""

import logging
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import eventlet
import pytest
from nameko.exceptions import IncorrectSignature

from services.catalog.service import CatalogService
from services.kernel.errors import InvalidInput, NotFound
from services.queue.service import QueueService
from tests.conftest import ADMIN_TOKEN
from tests.unit.catalog.factories import agency, counter, document, service, site

ALWAYS_OPEN = [{"day": d, "open": "00:00", "close": "24:00", "breaks": []}
               for d in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
                         "sunday")]
STAFF = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def hall_catalog(counters=4):
    """An always-open site with three services of two agencies and some counters."""
    return document(
        sites=[site(opening_hours=ALWAYS_OPEN)],
        agencies=[agency(), agency(code="BPJSKES", name="BPJS Kesehatan", kind="state_company")],
        services=[service(daily_quota=None),
                  service(code="AKTA", name="Akta Kelahiran", ticket_prefix="B",
                          daily_quota=None),
                  service(code="BPJS", agency="BPJSKES", name="Pendaftaran BPJS",
                          ticket_prefix="C", daily_quota=None)],
        counters=[counter(code=f"L{i:02d}", services=["KTP-EL", "AKTA"])
                  for i in range(1, counters + 1)]
        + [counter(code="B01", agency="BPJSKES", services=["BPJS"])],
    )



@pytest.fixture
def hall(start_service, cluster):
    _, catalog_http = start_service(CatalogService)
    cluster.catalog.import_catalog(hall_catalog(counters=20))
    queue_container, queue_http = start_service(QueueService)
    return queue_container, queue_http


def test_http_ticket_lifecycle_with_secret_and_staff_token(hall):
    _, http = hall
    issued = http.post("/api/queue/tickets", json={"service": "KTP-EL", "priority": "elderly"})
    assert issued.status_code == 201, issued.text
    ticket = issued.json()
    assert ticket["ticket_number"] == "A-001" and ticket["position"] == 1
    assert ticket["secret"] not in ticket["status_url"], "secrets stay out of URLs (and logs)"
    own = http.get(ticket["status_url"], headers={"X-Ticket-Secret": ticket["secret"]})
    assert own.status_code == 200 and own.json()["status"] == "waiting"
    assert "secret_hash" not in own.json() and "secret" not in own.json()
    wrong = http.get(ticket["status_url"], headers={"X-Ticket-Secret": "nope"})
    assert wrong.status_code == 401
    assert http.get(f"{ticket['status_url']}?secret={ticket['secret']}").status_code == 401
    assert http.post(f"{ticket['status_url']}/cancel", data="{oops").status_code == 401
    assert http.post("/api/queue/counters/L01/open").status_code == 401
    assert http.post("/api/queue/counters/L01/open", headers=STAFF).json()["state"] == "open"
    called = http.post("/api/queue/counters/L01/call-next", headers=STAFF).json()["ticket"]
    assert called["ticket_id"] == ticket["ticket_id"] and called["counter"] == "L01"
    path = f"/api/queue/tickets/{ticket['ticket_id']}"
    wrong = http.post(f"{path}/complete", json={"counter": "L01"}, headers=STAFF)
    assert wrong.status_code == 409 and wrong.json()["status"] == "called"
    assert http.post(f"{path}/start", json={"counter": "L01"}, headers=STAFF).status_code == 200
    done = http.post(f"{path}/complete", json={"counter": "L01"}, headers=STAFF).json()
    assert done["status"] == "completed"
    scores = {f"u{i}": 4 for i in range(1, 10)}
    feedback = http.post(f"{path}/feedback", headers={"X-Ticket-Secret": ticket["secret"]},
                         json={"scores": scores})
    assert feedback.status_code == 201
    again = http.post(f"{path}/feedback", headers={"X-Ticket-Secret": ticket["secret"]},
                      json={"scores": scores})
    assert again.status_code == 409


def test_http_errors_name_the_field(hall):
    _, http = hall
    bad = http.post("/api/queue/tickets", json={"service": "ktp", "priority": "vip",
                                                "channel": "fax", "extra": 1})
    assert bad.status_code == 400
    assert set(bad.json()["fields"]) == {"service", "priority", "channel", "extra"}
    unknown = http.post("/api/queue/tickets", json={"service": "NOPE"})
    assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"
    assert http.post("/api/queue/tickets", data="[1,2]").status_code == 400
    missing = http.post("/api/queue/tickets/nope/start", json={"counter": "L01"}, headers=STAFF)
    assert missing.status_code == 404
    pause = http.post("/api/queue/counters/L01/pause", json={}, headers=STAFF)
    assert pause.status_code == 400 and "reason" in pause.json()["fields"]
    assert http.get("/api/queue/overview?site=BWI").json()["site"] == "BWI"
    never_opened = http.get("/api/queue/counters/L05", headers=STAFF).json()
    assert (never_opened["state"], never_opened["ticket"], never_opened["agency"]) == (
        "closed", None, "DISDUKCAPIL")
    assert http.post("/api/queue/counters/L05/close", headers=STAFF).json()["state"] == "closed"
    assert http.post("/api/queue/counters/L99/open", headers=STAFF).status_code == 404
    assert http.get("/health").json()["status"] == "ok"


def test_rpc_errors_keep_their_kind(hall, cluster):
    with pytest.raises(InvalidInput) as caught:
        cluster.queue.issue_ticket("KTP-EL", priority="vip")
    assert set(caught.value.fields) == {"priority"}
    with pytest.raises(IncorrectSignature):
        cluster.queue.issue_ticket()
    with pytest.raises(NotFound):
        cluster.queue.get_ticket("nope")


def test_twenty_counters_calling_at_once_call_every_ticket_exactly_once(hall, cluster):
    _, http = hall
    counters = [f"L{i:02d}" for i in range(1, 21)]
    for code in counters:
        cluster.queue.open_counter(code)
    issued = {cluster.queue.issue_ticket("AKTA")["ticket_id"] for _ in range(30)}
    called = []
    for _round in range(2):
        pool = eventlet.GreenPool(20)
        answers = list(pool.imap(
            lambda code: http.post(f"/api/queue/counters/{code}/call-next", headers=STAFF),
            counters))
        assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
        tickets = [a.json()["ticket"] for a in answers if a.json()["ticket"]]
        called += tickets
        for t in tickets:
            cluster.queue.act(t["ticket_id"], "start", t["counter"])
            cluster.queue.act(t["ticket_id"], "complete", t["counter"])
    ids = [t["ticket_id"] for t in called]
    assert len(ids) == len(set(ids)) == 30
    assert set(ids) == issued


def test_numbering_is_unique_across_two_replicas_issuing_at_once(start_service, cluster):
    start_service(CatalogService)
    cluster.catalog.import_catalog(hall_catalog())
    unlimited = {"WEB_ISSUE_PER_CLIENT": "0", "WEB_ISSUE_PER_SERVICE": "0"}  # 80 from here
    _, first = start_service(QueueService, **unlimited)
    _, second = start_service(QueueService, **unlimited)
    pool = eventlet.GreenPool(40)
    answers = list(pool.imap(
        lambda i: (first if i % 2 else second).post("/api/queue/tickets",
                                                     json={"service": "KTP-EL"}),
        range(80)))
    numbers = sorted(a.json()["number"] for a in answers)
    assert numbers == list(range(1, 81))


def test_a_crash_between_write_and_publish_loses_no_event(start_service, cluster, event_tap,
                                                         database):
    tap = event_tap("ticket.#")
    start_service(CatalogService)
    cluster.catalog.import_catalog(hall_catalog())
    queue, http = start_service(QueueService, OUTBOX_SWEEP_SECONDS=3600)
    relay = next(ext for ext in queue.dependencies if type(ext).__name__ == "Outbox").relay

    class Crash(Exception):
        """The process dies between the write and the publish."""

    def die(entry):
        raise Crash(entry["id"])

    relay.before_publish = die
    ticket = http.post("/api/queue/tickets", json={"service": "KTP-EL"}).json()
    pending = database("queue").tickets.find_one({"_id": ticket["ticket_id"]})["outbox"]
    assert [e["envelope"]["type"] for e in pending] == ["antre.ticket.issued.v1"]
    queue.kill()
    assert tap.drain(timeout=1) == []

    # The restarted process: its sweep relays what the dead one left in the outbox.
    start_service(QueueService, OUTBOX_SWEEP_SECONDS=0.2, OUTBOX_GRACE_SECONDS=0)
    [message] = tap.drain(expected=1)
    assert message["event"]["id"] == pending[0]["id"]
    assert message["routing_key"] == "ticket.issued.DISDUKCAPIL"
    assert eventlet.with_timeout(5, _outbox_empty, database, ticket["ticket_id"])


def _outbox_empty(database, ticket_id):
    while database("queue").tickets.find_one({"_id": ticket_id})["outbox"]:
        eventlet.sleep(0.05)
    return True


def test_kiosk_data_pages_and_qr(hall):
    _, http = hall
    kiosk = http.get("/api/queue/kiosk/BWI").json()
    assert kiosk["site"]["code"] == "BWI" and kiosk["site"]["open"] is True
    [duk] = [a for a in kiosk["agencies"] if a["code"] == "DISDUKCAPIL"]
    ktp = next(s for s in duk["services"] if s["code"] == "KTP-EL")
    assert ktp["requirements"] == ["Fotokopi Kartu Keluarga"] and ktp["fee"] == 0
    assert ktp["waiting"] == 0 and ktp["estimated_wait_minutes"] == 10
    for path in ("/kiosk/BWI", "/tiket/abc", "/counter"):
        answer = http.get(path)
        assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/html")
    qr = http.post("/api/queue/qr", json={"text": "http://mpp/tiket/abc#rahasia"})
    assert qr.headers["Content-Type"].startswith("image/svg+xml") and b"<svg" in qr.content
    assert http.post("/api/queue/qr", json={"text": "x" * 513}).status_code == 400
    assert http.get("/ui/../service.py").status_code == 404
    preflight = http.options("/api/queue/tickets")
    assert preflight.status_code == 204
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]


def test_no_show_is_reachable_over_http(hall):
    _, http = hall
    ticket = http.post("/api/queue/tickets", json={"service": "KTP-EL"}).json()
    http.post("/api/queue/counters/L01/open", headers=STAFF)
    http.post("/api/queue/counters/L01/call-next", headers=STAFF)
    path = f"/api/queue/tickets/{ticket['ticket_id']}"
    early = http.post(f"{path}/no-show", headers=STAFF, json={"counter": "L01"})
    assert early.status_code == 409 and early.json()["recalls_needed"] == 2
    for _ in range(2):
        http.post(f"{path}/recall", headers=STAFF, json={"counter": "L01"})
    gone = http.post(f"{path}/no-show", headers=STAFF, json={"counter": "L01"})
    assert gone.status_code == 200 and gone.json()["status"] == "no_show"
    assert http.post(f"{path}/show", headers=STAFF, json={"counter": "L01"}).status_code == 404


def test_the_counter_s_waiting_list_is_the_order_call_next_calls(hall):
    """The console's list (``/counters/<code>/waiting``) over HTTP: a mix of services,
    priority and regular citizens is called by successive call-nexts in exactly that
    order, which is not the order they arrived in."""
    _, http = hall
    mix = [("KTP-EL", None), ("AKTA", None), ("KTP-EL", None), ("AKTA", "elderly"),
           ("KTP-EL", "pregnant"), ("KTP-EL", None), ("AKTA", "disability"), ("AKTA", None),
           ("KTP-EL", "child")]
    arrival = [http.post("/api/queue/tickets", headers=STAFF,
                         json={"service": service, "priority": priority}).json()["ticket_number"]
               for service, priority in mix]
    assert http.post("/api/queue/counters/L01/open", headers=STAFF).status_code == 200
    answer = http.get("/api/queue/counters/L01/waiting", headers=STAFF)
    assert answer.status_code == 200, answer.text
    shown = answer.json()
    assert shown["total"] == len(mix) and shown["state"] == "open"
    order = [item["ticket_number"] for item in shown["items"]]
    assert [item["call_position"] for item in shown["items"]] == list(range(1, len(mix) + 1))
    assert [item["ticket_number"] for item in http.get(
        "/api/queue/counters/L01/waiting?limit=3", headers=STAFF).json()["items"]] == order[:3]
    assert http.get("/api/queue/counters/L01/waiting?limit=0", headers=STAFF).status_code == 400
    assert http.get("/api/queue/counters/L01/waiting").status_code == 401

    called = []
    while ticket := http.post("/api/queue/counters/L01/call-next",
                              headers=STAFF).json()["ticket"]:
        called.append(ticket["ticket_number"])
        path = f"/api/queue/tickets/{ticket['ticket_id']}"
        http.post(f"{path}/start", headers=STAFF, json={"counter": "L01"})
        http.post(f"{path}/complete", headers=STAFF, json={"counter": "L01"})
    assert called == order != arrival
    assert http.get("/api/queue/counters/L01/waiting", headers=STAFF).json()["items"] == []


def test_booked_slots_checked_in_over_rpc_are_called_by_the_appointment_rule(hall, cluster):
    """The booking service checks citizens in over RPC; walk-ins come over HTTP. Call-next
    calls the priority ticket first, then the appointments whose slot time has come (the
    late ones by check-in), then the walk-ins, and last the holder whose slot is still
    ahead; the console shows the same order. HTTP never takes an appointment."""
    _, http = hall
    # The slots must fall on the ticket's local day (WIB): near midnight, wait for the
    # new day, and keep the offsets inside the day whatever the hour.
    def seconds_since_midnight():
        local = datetime.now(UTC).astimezone(ZoneInfo("Asia/Jakarta"))
        return (local - local.replace(hour=0, minute=0, second=0, microsecond=0)).seconds

    if seconds_since_midnight() > 86400 - 120:
        time.sleep(86400 - seconds_since_midnight() + 3)
    if seconds_since_midnight() < 3:
        time.sleep(3)
    now = datetime.now(UTC)
    past = min(600, seconds_since_midnight() - 1)  # at most ten minutes back, this day
    ahead = min(1800, 86400 - seconds_since_midnight() - 60)

    def walk_in(**body):
        answer = http.post("/api/queue/tickets", headers=STAFF, json={"service": "KTP-EL",
                                                                     **body})
        assert answer.status_code == 201, answer.text
        return answer.json()["ticket_number"]

    def booked(code, seconds):
        slot = (now + timedelta(seconds=seconds)).astimezone(ZoneInfo("Asia/Jakarta"))
        ticket = cluster.queue.issue_ticket("KTP-EL", channel="appointment", site="BWI",
                                            appointment={"booking": code,
                                                         "slot_start": slot.isoformat()})
        assert ticket["channel"] == "appointment" and ticket["appointment"]["booking"] == code
        return ticket["ticket_number"]

    w1 = walk_in()
    early = booked("EARLY1", ahead)  # checks in before its slot: waits for it
    w2 = walk_in()
    late = booked("LATE01", -past / 2)  # late: counts from check-in
    priority = walk_in(priority="elderly")
    later = booked("LATE02", -past)  # an older slot, checked in after LATE01
    for refused_headers in ({}, STAFF):
        refused = http.post("/api/queue/tickets", headers=refused_headers, json={
            "service": "KTP-EL", "channel": "appointment",
            "appointment": {"booking": "FAKE01", "slot_start": now.isoformat()}})
        assert refused.status_code == 400 and list(refused.json()["fields"]) == ["appointment"]
    with pytest.raises(InvalidInput) as caught:
        cluster.queue.issue_ticket("KTP-EL", channel="appointment", site="BWI")
    assert list(caught.value.fields) == ["appointment"]

    assert http.post("/api/queue/counters/L01/open", headers=STAFF).status_code == 200
    shown = http.get("/api/queue/counters/L01/waiting", headers=STAFF).json()["items"]
    expected = [priority, late, later, w1, w2, early]
    assert [item["ticket_number"] for item in shown] == expected
    assert shown[1]["appointment"]["booking"] == "LATE01" and shown[3]["appointment"] is None
    called = []
    while ticket := http.post("/api/queue/counters/L01/call-next",
                              headers=STAFF).json()["ticket"]:
        called.append(ticket["ticket_number"])
        path = f"/api/queue/tickets/{ticket['ticket_id']}"
        http.post(f"{path}/start", headers=STAFF, json={"counter": "L01"})
        http.post(f"{path}/complete", headers=STAFF, json={"counter": "L01"})
    assert called == expected


def test_an_unknown_site_is_one_log_line_without_a_traceback(hall, caplog):
    """An expected client error (the catalog's NotFound, over RPC) answers 404 JSON and
    logs at most one line, never a traceback: not in the queue, not in the catalog."""
    _, http = hall
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="nameko.containers"):
        answer = http.get("/api/queue/kiosk/NOPE")
        eventlet.sleep(0.3)  # the catalog's worker logs after it has answered
    assert answer.status_code == 404, answer.text
    assert answer.json()["error"] == "not_found"
    records = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert not [r for r in records if r.exc_info or r.exc_text], \
        [r.getMessage()[:200] for r in records]
    assert "Traceback" not in caplog.text
    about = [r for r in records if "NOPE" in r.getMessage()]
    assert len(about) <= 1, [r.getMessage() for r in about]
    assert all("\n" not in r.getMessage() for r in about)


def test_anonymous_web_issuing_is_rate_limited_per_client_and_per_service(start_service,
                                                                         cluster, database):
    """Five anonymous requests claiming a priority group no longer use up a service's
    daily quota: the web is limited per client address and per service (429 with
    Retry-After and the limit's name); kiosks and staff are not."""
    _, catalog = start_service(CatalogService)
    quota = hall_catalog()
    quota["services"][0]["daily_quota"] = 6
    cluster.catalog.import_catalog(quota)
    _, http = start_service(QueueService, WEB_ISSUE_PER_CLIENT="2", WEB_ISSUE_PER_SERVICE="3")

    def web(address, **body):
        return http.post("/api/queue/tickets", headers={"X-Real-IP": address},
                         json={"service": "KTP-EL", **body})

    assert web("198.51.100.1", priority="elderly").status_code == 201
    counts = sorted((d["_id"], d["count"]) for d in database("queue").rate_limits.find())
    claims = [web("198.51.100.1", priority="elderly") for _ in range(4)]
    assert sorted((d["_id"], d["count"]) for d in database("queue").rate_limits.find()) == \
        counts, "a refused request counts against no limit"
    assert [a.status_code for a in claims] == [429] * 4
    refused = claims[0]
    assert refused.json()["error"] == "too_many_requests"
    assert refused.json()["limit"] == "web_priority_per_client"
    assert 0 < int(refused.headers["Retry-After"]) <= 3600
    assert refused.json()["retry_after"] == int(refused.headers["Retry-After"])
    assert web("198.51.100.1").status_code == 201, "the refused claims did not count"
    assert web("198.51.100.1").json()["limit"] == "web_issue_per_client"

    kiosk = catalog.post("/api/catalog/devices", headers=STAFF,
                         json={"kind": "kiosk", "site": "BWI", "name": "Anjungan 1"}).json()
    for headers in [{"Authorization": f"Bearer {kiosk['token']}"}] * 3 + [STAFF]:
        answer = http.post("/api/queue/tickets", headers=headers,
                           json={"service": "KTP-EL", "priority": "elderly"})
        assert answer.status_code == 201, "the quota is still there for the hall"

    # Per service, whoever asks: three web tickets of AKTA an hour here.
    for address in ("198.51.100.2", "198.51.100.3", "198.51.100.4"):
        assert web(address, service="AKTA").status_code == 201
    busy = web("198.51.100.5", service="AKTA")
    assert busy.status_code == 429 and busy.json()["limit"] == "web_issue_per_service"
    assert web("198.51.100.5", service="BPJS").status_code == 201
