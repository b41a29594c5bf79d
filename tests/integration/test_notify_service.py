"""The notify service with the catalog and queue services, on the real broker:
display boards (SSE), citizen messages and agency webhooks."""

import hashlib
import hmac
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import eventlet
import pytest
import requests

from services.catalog.service import CatalogService
from services.notify.service import NotifyService
from services.queue.service import QueueService
from tests.conftest import ADMIN_TOKEN
from tests.integration.test_queue_service import hall_catalog

STAFF = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
NUMBER = "0812-3456-7890"
DIGITS = ("81234567890", "3456-7890", "34567890", "3456")



@pytest.fixture
def hall(start_service, cluster):
    start_service(CatalogService)
    cluster.catalog.import_catalog(hall_catalog(counters=4))
    _, queue = start_service(QueueService)
    notify_container, notify = start_service(
        NotifyService, MESSAGE_SWEEP_SECONDS=0.1, WEBHOOK_SWEEP_SECONDS=0.1,
        WEBHOOK_RETRY_SECONDS=0.2, WEBHOOK_MAX_ATTEMPTS=3, NEAR_TICKETS_AHEAD=1,
        WEBHOOK_ALLOWED_PRIVATE="127.0.0.1")  # the test's agency listens on loopback
    for code in ("L01", "L02"):
        assert queue.post(f"/api/queue/counters/{code}/open", headers=STAFF).status_code == 200
    return queue, notify, notify_container


class Stream:
    """A display board's connection: reads Server-Sent Events in a green thread."""

    def __init__(self, url, last_event_id=None):
        headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
        self.response = requests.get(url, stream=True, headers=headers, timeout=30)
        self.events = []
        self.thread = eventlet.spawn(self._read)

    def _read(self):
        current = {}
        for line in self.response.iter_lines(decode_unicode=True):
            if line.startswith("id: "):
                current["id"] = int(line[4:])
            elif line.startswith("data: "):
                current["data"] = json.loads(line[6:])
            elif line == "" and "data" in current:
                self.events.append(current)
                current = {}

    def wait_for(self, count, timeout=10):
        with eventlet.Timeout(timeout):
            while len(self.events) < count:
                eventlet.sleep(0.05)
        return self.events

    def close(self):
        self.thread.kill()
        self.response.close()


def wait_until(check, timeout=10):
    with eventlet.Timeout(timeout):
        while not check():
            eventlet.sleep(0.05)


def test_simultaneous_calls_are_announced_one_after_another_and_a_reconnect_misses_none(hall):
    queue, notify, _ = hall
    page = notify.get("/display/BWI")
    assert page.status_code == 200 and 'data-site="BWI"' in page.text
    for asset in ("display.js", "display.css"):
        assert notify.get(f"/display/assets/{asset}").status_code == 200
    stream = Stream(notify.base + "/api/notify/display/BWI/stream")
    first, second = (queue.post("/api/queue/tickets", json={"service": "KTP-EL"}).json()
                     for _ in range(2))
    pool = eventlet.GreenPool(2)
    called = list(pool.imap(lambda code: queue.post(f"/api/queue/counters/{code}/call-next",
                                                    headers=STAFF).json()["ticket"],
                            ["L01", "L02"]))
    assert {t["ticket_id"] for t in called} == {first["ticket_id"], second["ticket_id"]}
    events = stream.wait_for(2)
    assert [e["id"] for e in events] == [1, 2], "both announced, one after the other"
    assert {e["data"]["ticket_number"] for e in events} == {"A-001", "A-002"}
    assert {e["data"]["counter"] for e in events} == {"L01", "L02"}
    assert events[0]["data"]["text"]["id"].startswith("Nomor antrean A nol nol ")
    stream.close()

    # While the board is disconnected: a recall and a new call.
    queue.post(f"/api/queue/tickets/{called[0]['ticket_id']}/recall",
               json={"counter": called[0]["counter"]}, headers=STAFF)
    third = queue.post("/api/queue/tickets", json={"service": "AKTA"}).json()
    queue.post(f"/api/queue/tickets/{called[1]['ticket_id']}/start",
               json={"counter": called[1]["counter"]}, headers=STAFF)
    queue.post(f"/api/queue/tickets/{called[1]['ticket_id']}/complete",
               json={"counter": called[1]["counter"]}, headers=STAFF)
    queue.post(f"/api/queue/counters/{called[1]['counter']}/call-next", headers=STAFF)
    wait_until(lambda: len(notify.get("/api/notify/display/BWI/recent").json()["items"]) == 4)

    resumed = Stream(notify.base + "/api/notify/display/BWI/stream", last_event_id=2)
    later = resumed.wait_for(2)
    resumed.close()
    assert [e["id"] for e in later] == [3, 4]
    assert [e["data"]["kind"] for e in later] == ["recall", "call"]
    assert later[1]["data"]["ticket_number"] == third["ticket_number"]
    recent = notify.get("/api/notify/display/BWI/recent?limit=2").json()["items"]
    assert [r["seq"] for r in recent] == [4, 3]


def test_citizen_messages_and_no_number_anywhere(hall, event_tap, caplog):
    caplog.set_level(logging.DEBUG)
    tap = event_tap("#")
    queue, notify, notify_container = hall
    bad = queue.post("/api/queue/tickets", json={"service": "KTP-EL", "phone": "12345"})
    assert bad.status_code == 400 and set(bad.json()["fields"]) == {"phone"}
    assert "12345" not in bad.text
    ahead = queue.post("/api/queue/tickets", json={"service": "KTP-EL"}).json()
    issued = queue.post("/api/queue/tickets", json={"service": "KTP-EL", "phone": NUMBER})
    ticket = issued.json()
    assert ticket["messages"] == {"phone": "+62812*****890", "status": "subscribed"}
    provider = next(d for d in notify_container.dependencies
                    if type(d).__name__ == "Secrets").provider
    wait_until(lambda: len(provider.sent) == 1)
    assert provider.sent[0][1].startswith("Antre MPP Banyuwangi: nomor antrean A-002")

    assert queue.post("/api/queue/counters/L01/call-next", headers=STAFF).json()["ticket"][
        "ticket_id"] == ahead["ticket_id"]
    wait_until(lambda: len(provider.sent) == 2)  # now 0 ahead: "near"
    assert provider.sent[1][1] == "Antre: giliran A-002 berikutnya. Mohon bersiap di dekat loket."
    queue.post("/api/queue/counters/L02/call-next", headers=STAFF)
    wait_until(lambda: len(provider.sent) == 3)
    # hall_catalog names every counter "Loket 1".
    assert provider.sent[2][1] == "Antre: nomor A-002 dipanggil. Silakan menuju Loket 1 sekarang."
    assert {masked for masked, _ in provider.sent} == {"+62812*****890"}

    messages = notify.get(f"/api/notify/tickets/{ticket['ticket_id']}/messages",
                          headers=STAFF).json()
    assert [m["kind"] for m in messages["items"]] == ["issued", "near", "called"]
    answers = [issued.text, json.dumps(messages),
               queue.get(f"/api/queue/tickets/{ticket['ticket_id']}",
                         headers={"X-Ticket-Secret": ticket["secret"]}).text]
    events = json.dumps([m["event"] for m in tap.drain()])
    logs = "\n".join(record.getMessage() for record in caplog.records)
    for place, text in (("answers", "\n".join(answers)), ("events", events), ("logs", logs)):
        for digits in DIGITS:
            assert digits not in text, f"phone digits {digits} in {place}"


class Agency:
    """A real local HTTP endpoint that checks each signature and fails on demand."""

    def __init__(self, secret, failures=0):
        self.secret = secret.encode()
        self.failures = failures
        self.requests = []
        agency = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                timestamp = self.headers["X-Antre-Timestamp"]
                expected = "sha256=" + hmac.new(agency.secret, f"{timestamp}.".encode() + body,
                                                hashlib.sha256).hexdigest()
                valid = hmac.compare_digest(expected, self.headers["X-Antre-Signature"])
                agency.requests.append({"valid": valid, "body": json.loads(body),
                                        "content_type": self.headers["Content-Type"]})
                failing = agency.failures > 0
                agency.failures -= 1 if failing else 0
                self.send_response(500 if failing or not valid else 204)
                self.end_headers()

            def log_message(self, *args):
                """Keep the test's output free of the server's access log."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/antre-events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def test_webhooks_are_signed_retried_dead_lettered_and_redelivered(hall):
    queue, notify, _ = hall
    secret = "rahasia-disdukcapil-yang-panjang"
    agency = Agency(secret, failures=2)
    try:
        hook = notify.post("/api/notify/webhooks", headers=STAFF, json={
            "agency": "DISDUKCAPIL", "url": agency.url, "secret": secret,
            "event_types": ["antre.ticket.issued.*"]}).json()
        assert "secret" not in hook
        assert notify.post("/api/notify/webhooks", json={"agency": "X", "url": agency.url}) \
            .status_code == 401
        queue.post("/api/queue/tickets", json={"service": "KTP-EL"})
        queue.post("/api/queue/tickets", json={"service": "BPJS"})  # another agency's event
        wait_until(lambda: any(r["valid"] and r["body"]["type"] == "antre.ticket.issued.v1"
                               for r in agency.requests[2:]))
        assert [r["valid"] for r in agency.requests] == [True, True, True]
        assert {r["body"]["agency"] for r in agency.requests} == {"DISDUKCAPIL"}
        assert agency.requests[0]["content_type"] == "application/cloudevents+json"
        path = f"/api/notify/webhooks/{hook['webhook_id']}/deliveries"
        wait_until(lambda: notify.get(path, headers=STAFF).json()["items"][0]["status"] == "sent")
        [delivery] = notify.get(path, headers=STAFF).json()["items"]
        assert [entry["status_code"] for entry in delivery["log"]] == [500, 500, 204]

        agency.failures = 10 ** 6  # the agency's system is down for long
        queue.post("/api/queue/tickets", json={"service": "KTP-EL"})
        wait_until(lambda: notify.get(path + "?status=dead", headers=STAFF).json()["total"] == 1)
        [dead] = notify.get(path + "?status=dead", headers=STAFF).json()["items"]
        assert dead["attempts"] == 3
        agency.failures = 0  # it is back: the operator redelivers
        again = notify.post(f"/api/notify/deliveries/{dead['_id']}/redeliver", headers=STAFF)
        assert again.status_code == 200 and again.json()["status"] == "pending"
        wait_until(lambda: notify.get(path + "?status=sent", headers=STAFF).json()["total"] == 2)
    finally:
        agency.close()


def test_webhooks_to_internal_addresses_are_refused_unless_allowed(start_service):
    """Without WEBHOOK_ALLOWED_PRIVATE, a webhook to loopback, a private network or the
    cloud metadata address is a 400 naming `url`; allowed explicitly, it is saved."""
    _, closed = start_service(NotifyService)
    for url in ("http://127.0.0.1:9/hook", "http://10.1.2.3/hook", "http://[::1]:9/hook",
                "http://169.254.169.254/latest/meta-data", "http://localhost:9/hook"):
        refused = closed.post("/api/notify/webhooks", headers=STAFF,
                              json={"agency": "DISDUKCAPIL", "url": url, "secret": "s" * 20})
        assert refused.status_code == 400, (url, refused.text)
        assert list(refused.json()["fields"]) == ["url"]
    _, open_ = start_service(NotifyService, WEBHOOK_ALLOWED_PRIVATE="127.0.0.1")
    assert open_.post("/api/notify/webhooks", headers=STAFF, json={
        "agency": "DISDUKCAPIL", "url": "http://127.0.0.1:9/hook",
        "secret": "s" * 20}).status_code == 201
