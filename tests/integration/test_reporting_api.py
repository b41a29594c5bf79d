"""Reporting's HTTP API, /metrics and the day-closed event, on the real broker."""

import csv
import io
from datetime import UTC, datetime, timedelta

import eventlet
import pytest
import requests

from services.catalog.service import CatalogService
from services.kernel.hours import local_day
from services.queue import domain as queue_domain
from services.reporting.service import ReportingService
from tests.conftest import ADMIN_TOKEN
from tests.integration.test_reporting_ingest import publish
from tests.unit.catalog.factories import agency, document, service
from tests.unit.reporting.test_domain import lifecycle, ticket

PAST_DAY = "2026-11-23"
SCORES = {f"u{i}": 4 for i in range(1, 10)}



@pytest.fixture
def reporting(start_service, cluster, rabbit_config, event_tap):
    """Reporting with three tickets served on a past day, two today and one rating;
    a tap bound to report events before anything happened."""
    tap = event_tap("report.#")
    start_service(CatalogService)  # for the site's time zone and the names
    cluster.catalog.import_catalog(document(
        agencies=[agency(code="DUK")],
        services=[service(code="KTP", agency="DUK", name="Perekaman KTP-el")],
        counters=[]))
    _, http = start_service(ReportingService, DAY_CLOSE_CHECK_SECONDS=0.3,
                            DAY_CLOSE_DELAY_MINUTES=0)
    http.session.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"  # the reports need a reader
    now = datetime.now(UTC).replace(microsecond=0)
    today = local_day("Asia/Jakarta", now).isoformat()
    events = [e for i in range(3) for e in lifecycle(f"past{i}", wait_min=5 * (i + 1))]
    events += lifecycle("today", issued_at=now - timedelta(minutes=30), local_day=today)
    events += [lifecycle("waiting-today", issued_at=now, local_day=today)[0]]
    rated = {**ticket(_id="past0", visit_id="past0")}
    feedback = queue_domain.feedback_event(rated, SCORES, False, now).envelope("/antre/queue")
    publish(rabbit_config["AMQP_URI"], events)
    publish(rabbit_config["AMQP_URI"], [feedback])
    with eventlet.Timeout(20):
        while cluster.reporting.ingested() < len(events) + 1:
            eventlet.sleep(0.1)
    eventlet.sleep(0.3)
    return http, today, tap


def test_daily_report_and_its_csv(reporting):
    http, _, _ = reporting
    report = http.get(f"/api/reporting/daily?site=BWI&date={PAST_DAY}").json()
    assert report["totals"]["issued"] == 3 and report["totals"]["served"] == 3
    assert report["totals"]["waiting_time"]["p90"] == 900
    assert report["services"][0]["name"] == "Perekaman KTP-el"
    answer = http.get(f"/api/reporting/daily.csv?site=BWI&date={PAST_DAY}")
    assert answer.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert rows[0]["scope"] == "site" and rows[0]["issued"] == "3"
    assert float(rows[0]["waiting_max_s"]) == 900
    bad = http.get("/api/reporting/daily?site=BWI&date=23-11-2026&colour=red")
    assert bad.status_code == 400 and set(bad.json()["fields"]) == {"date", "colour"}


def test_ikm_and_its_csv(reporting):
    http, _, _ = reporting
    result = http.get(f"/api/reporting/ikm?site=BWI&from={PAST_DAY}&to={PAST_DAY}").json()
    assert result["overall"]["respondents"] == 1
    assert (result["overall"]["ikm"], result["overall"]["grade"]) == (100.0, "A")
    answer = http.get(f"/api/reporting/ikm.csv?site=BWI&from={PAST_DAY}&to={PAST_DAY}")
    rows = list(csv.reader(io.StringIO(answer.text)))
    assert rows[0][:4] == ["scope", "code", "respondents", "ikm"] and rows[1][0] == "site"
    backwards = http.get("/api/reporting/ikm?site=BWI&from=2026-11-24&to=2026-11-23")
    assert backwards.status_code == 400 and "to" in backwards.json()["fields"]
    assert http.get("/api/reporting/ikm?site=BWI").status_code == 400


def test_metrics_in_prometheus_text(reporting):
    http, _, _ = reporting
    answer = http.get("/metrics")
    assert answer.headers["Content-Type"].startswith("text/plain")
    text = answer.text
    assert 'antre_waiting_now{site="BWI",agency="DUK",service="KTP"} 1' in text
    assert 'antre_served_today{site="BWI",agency="DUK"} 1' in text
    assert 'antre_waiting_seconds_p90{site="BWI",agency="DUK"} 720' in text
    # Every event is ingested: nothing waits, nothing retries, nothing is dead.
    for kind in ("ready", "retrying", "dead"):
        assert f'antre_events_backlog{{queue="{kind}"}} 0' in text


def test_admin_endpoints_need_the_token(reporting):
    http, _, _ = reporting
    assert requests.get(http.base + "/api/reporting/dead-letters", timeout=10).status_code == 401
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    assert http.get("/api/reporting/dead-letters", headers=admin).json() == {"items": [],
                                                                              "total": 0}
    assert http.post("/api/reporting/replay", headers=admin).json()["tickets"] == 5


def test_a_past_day_is_announced_once(reporting):
    http, today, tap = reporting
    [closed] = tap.drain(expected=1)
    assert closed["routing_key"] == "report.day_closed._site"
    event = closed["event"]
    assert event["type"] == "antre.report.day_closed.v1" and event["source"] == "/antre/reporting"
    assert event["data"]["date"] == PAST_DAY and event["data"]["totals"]["issued"] == 3
    eventlet.sleep(1.5)  # the check runs every 0.3 s: still one announcement
    assert tap.drain() == [closed]
    assert http.get(f"/api/reporting/daily?site=BWI&date={PAST_DAY}").json()["closed"] is True
    assert http.get(f"/api/reporting/daily?site=BWI&date={today}").json()["closed"] is False
