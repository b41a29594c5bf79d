"""The four services, each started with what its hostile tests need.

Each fixture starts the service (and the catalog it asks, if any) once per test
function; hypothesis then sends every example of that test to the same containers.
Timers that sweep outboxes, messages and webhooks are slowed to once an hour so that
nothing writes behind a test's back between its "before" and "after" snapshots.
"""

import pytest

from services.catalog.service import CatalogService
from services.notify.service import NotifyService
from services.queue.service import QueueService
from services.reporting.service import ReportingService
from tests.hostile.routes import PASSWORD
from tests.hostile.support import ADMIN, Target
from tests.integration.test_queue_service import hall_catalog

ADMIN_HEADERS = {"Authorization": ADMIN}
QUIET = {
    "OUTBOX_SWEEP_SECONDS": 3600,
    "PAST_DAYS_CHECK_SECONDS": 3600,
    "MESSAGE_SWEEP_SECONDS": 3600,
    "WEBHOOK_SWEEP_SECONDS": 3600,
    "FORGET_CHECK_SECONDS": 3600,
    "DAY_CLOSE_CHECK_SECONDS": 3600,
}


def ok(answer, status=200):
    assert answer.status_code == status, answer.text
    return answer.json()


@pytest.fixture
def catalog_http(start_service):
    """The catalog holding the hall of the queue tests (always open, five counters)."""
    _, http = start_service(CatalogService, **QUIET)
    ok(http.post("/api/catalog/import", json=hall_catalog(), headers=ADMIN_HEADERS))
    return http


@pytest.fixture
def catalog_target(catalog_http, database):
    ok(catalog_http.post("/api/catalog/accounts", headers=ADMIN_HEADERS, json={
        "username": "op.base", "password": PASSWORD, "role": "operator", "agency": "DISDUKCAPIL",
        "counters": ["L01"]}), 201)
    device = ok(catalog_http.post("/api/catalog/devices", headers=ADMIN_HEADERS, json={
        "kind": "kiosk", "site": "BWI", "name": "Kiosk dasar"}), 201)
    key = ok(catalog_http.post("/api/catalog/api-keys", headers=ADMIN_HEADERS,
                               json={"name": "Grafana dasar"}), 201)
    return Target(catalog_http, database("catalog"),
                  values={"account": "op.base", "device": device["device_id"],
                          "api_key": key["key_id"]})


@pytest.fixture
def queue_target(catalog_http, start_service, database):
    """Counters L01 and L02 open; a ticket called at L01, one completed at L02 (to rate),
    one waiting."""
    _, http = start_service(QueueService, **QUIET)

    def post(path, status=200, **kwargs):
        return ok(http.post(path, headers=ADMIN_HEADERS, **kwargs), status)

    post("/api/queue/counters/L01/open")
    post("/api/queue/counters/L02/open")
    called = post("/api/queue/tickets", 201, json={"service": "KTP-EL"})
    assert post("/api/queue/counters/L01/call-next")["ticket"]["ticket_id"] == called["ticket_id"]
    done = post("/api/queue/tickets", 201, json={"service": "KTP-EL"})
    assert post("/api/queue/counters/L02/call-next")["ticket"]["ticket_id"] == done["ticket_id"]
    for action in ("start", "complete"):
        post(f"/api/queue/tickets/{done['ticket_id']}/{action}", json={"counter": "L02"})
    waiting = post("/api/queue/tickets", 201, json={"service": "AKTA"})
    return Target(http, database("queue"), values={
        "called": called["ticket_id"], "done": done["ticket_id"], "done_secret": done["secret"],
        "waiting": waiting["ticket_id"], "waiting_secret": waiting["secret"]})


@pytest.fixture
def notify_target(start_service, database):
    """Notify alone (webhooks, boards and messages need nothing else), with one webhook."""
    # The webhooks here name a host that never resolves: allowed by name.
    _, http = start_service(NotifyService, WEBHOOK_ALLOWED_PRIVATE="hooks.example.test", **QUIET)
    webhook = ok(http.post("/api/notify/webhooks", headers=ADMIN_HEADERS, json={
        "agency": "DISDUKCAPIL", "url": "https://hooks.example.test/base"}), 201)
    return Target(http, database("notify"), values={
        "webhook": webhook["webhook_id"], "delivery": f"{webhook['webhook_id']}:nope",
        "ticket": "T0001"})


@pytest.fixture
def reporting_target(catalog_http, start_service, database):
    """Reporting (with the catalog, for time zones). Only its audit log is compared:
    it also stores the catalog's events as they arrive."""
    _, http = start_service(ReportingService, **QUIET)
    return Target(http, database("reporting"), collections=("audit",))


@pytest.fixture
def target(request, service):
    return request.getfixturevalue(f"{service}_target")
