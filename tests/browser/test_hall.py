"""A citizen, an operator, the hall's board and the office's dashboard, in a browser.

The kiosk takes a ticket; the counter console calls it; the display shows it and
queues its announcement; the console completes it; the dashboard counts it. Every page
is screenshotted into artifacts/screenshots/.
"""

import eventlet
import pytest
from nameko.standalone.rpc import ClusterRpcProxy
from nameko.testing.utils import find_free_port

from services.catalog.service import CatalogService
from services.notify.service import NotifyService
from services.queue.service import QueueService
from services.reporting.service import ReportingService
from tests.conftest import ADMIN_TOKEN
from tests.integration.test_queue_service import hall_catalog

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def wait_until(check, timeout=15):
    with eventlet.Timeout(timeout):
        while not check():
            eventlet.sleep(0.1)


@pytest.fixture
def hall(start_service, service_config):
    ports = {name: find_free_port() for name in ("catalog", "queue", "notify", "reporting")}
    urls = {f"PUBLIC_{name.upper()}_URL": f"http://127.0.0.1:{port}" for name, port in ports.items()}
    services = {}
    for name, cls in (("catalog", CatalogService), ("queue", QueueService),
                      ("notify", NotifyService), ("reporting", ReportingService)):
        services[name] = start_service(cls, port=ports[name], **urls)[1]
    with ClusterRpcProxy(service_config, timeout=30) as cluster:
        cluster.catalog.import_catalog(hall_catalog(counters=2))
    catalog = services["catalog"]
    catalog.post("/api/catalog/accounts", headers=ADMIN, json={
        "username": "siti", "password": "kata-sandi-rahasia", "role": "operator",
        "agency": "DISDUKCAPIL", "counters": ["L01"]}).raise_for_status()
    kiosk = catalog.post("/api/catalog/devices", headers=ADMIN,
                         json={"kind": "kiosk", "site": "BWI", "name": "Anjungan 1"}).json()
    key = catalog.post("/api/catalog/api-keys", headers=ADMIN, json={"name": "Layar kantor"}).json()
    return {**services, "kiosk_token": kiosk["token"], "report_key": key["key"]}


def test_a_ticket_from_kiosk_to_dashboard(hall, pages, screenshot):
    queue, notify, reporting = hall["queue"], hall["notify"], hall["reporting"]

    board = pages()
    board.goto(f"{notify.base}/display/BWI")
    board.wait_for_function("window.antreDisplay !== undefined")

    kiosk = pages()
    kiosk.goto(f"{queue.base}/kiosk/BWI#token={hall['kiosk_token']}")
    kiosk.get_by_test_id("agency-DISDUKCAPIL").click()
    kiosk.get_by_test_id("service-KTP-EL").click()
    details = kiosk.get_by_test_id("service-details")
    assert "Fotokopi Kartu Keluarga" in details.inner_text()
    screenshot(kiosk, "kiosk-service")
    kiosk.get_by_test_id("priority-elderly").check()
    kiosk.get_by_test_id("take-ticket").click()
    number = kiosk.get_by_test_id("ticket-number")
    number.wait_for()
    assert number.inner_text().strip() == "A-001"
    screenshot(kiosk, "kiosk-ticket")
    status_link = kiosk.get_by_test_id("ticket-status-link").get_attribute("href")
    assert "#" in status_link and "?" not in status_link, "the secret rides in the fragment"

    status = pages()
    status.goto(status_link)
    status.get_by_test_id("ticket-status").wait_for()
    wait_until(lambda: status.get_by_test_id("ticket-status").get_attribute("data-status")
               == "waiting")
    screenshot(status, "ticket-status")

    console = pages()
    console.goto(f"{queue.base}/counter")
    console.get_by_test_id("username").fill("siti")
    console.get_by_test_id("password").fill("kata-sandi-rahasia")
    console.get_by_test_id("login").click()
    console.get_by_test_id("open").click()
    wait_until(lambda: console.get_by_test_id("counter-state").get_attribute("data-state") == "open")
    console.get_by_test_id("call-next").click()
    wait_until(lambda: console.get_by_test_id("current-ticket").inner_text().strip() == "A-001")
    screenshot(console, "counter-called")

    wait_until(lambda: board.evaluate("window.antreDisplay.announced().length") >= 1)
    assert board.evaluate("window.antreDisplay.current().ticket_number") == "A-001"
    assert "A-001" in board.inner_text("body")
    screenshot(board, "display")

    console.get_by_test_id("start").click()
    wait_until(lambda: not console.get_by_test_id("complete").is_disabled())
    console.get_by_test_id("complete").click()
    wait_until(lambda: console.get_by_test_id("current-ticket").inner_text().strip() == "")
    screenshot(console, "counter-completed")
    wait_until(lambda: status.get_by_test_id("ticket-status").get_attribute("data-status")
               == "completed")

    wait_until(lambda: reporting.get("/api/reporting/daily?site=BWI", headers={
        "Authorization": f"Bearer {hall['report_key']}"}).json()["totals"]["served"] == 1)
    dashboard = pages()
    dashboard.goto(f"{reporting.base}/dashboard/BWI#key={hall['report_key']}")
    served = dashboard.get_by_test_id("tile-served")
    wait_until(lambda: served.get_attribute("data-value") == "1")
    assert dashboard.get_by_test_id("tile-issued").get_attribute("data-value") == "1"
    dashboard.get_by_test_id("chart-hours").wait_for()
    screenshot(dashboard, "dashboard")
    board_url = f"{notify.base}/display/BWI"
    for linking in (kiosk, console, dashboard):  # the board is linked from the other pages
        assert linking.get_by_test_id("display-link").get_attribute("href") == board_url
