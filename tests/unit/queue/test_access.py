"""Who may act at a counter, checked at every use: an operator acts only at a counter of
the token's list that belongs, in the catalog *now*, to the operator's agency (an admin
moving the counter to another agency takes it away from the old agency's operators at
once, whatever their token says). Admins act anywhere."""

import json

import pytest
from nameko.testing.services import worker_factory
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from services.kernel import tokens
from services.queue.queries import Settings
from services.queue.service import QueueService

from .conftest import default_catalog

SECRET = "unit-auth-secret"
ADMIN = "unit-admin-token"


def bearer(credential):
    return {"Authorization": f"Bearer {credential}"}


def operator(counters=("L01",), agency="DISDUKCAPIL"):
    return bearer(tokens.issue_token(SECRET, "account:siti", "operator", 3600,
                                     agency=agency, counters=list(counters)))


def call(service, handler, path, headers, body=None, **values):
    """``(status, body)`` of the HTTP handler ``handler`` for a request to ``path``."""
    options = {"json": body} if body is not None else {}
    request = Request(EnvironBuilder(path=path, method="POST", headers=headers,
                                     **options).get_environ())
    result = getattr(service, handler)(request, **values)
    if isinstance(result, tuple):
        return result
    if hasattr(result, "status_code"):
        return result.status_code, json.loads(result.get_data(as_text=True))
    return 200, result


@pytest.fixture
def hall(repo, clock):
    catalog = default_catalog()
    service = worker_factory(QueueService, repository=repo, catalog=catalog, clock=clock,
                             settings=Settings(max_priority_streak=2, no_show_after_recalls=2),
                             config={"AUTH_SECRET": SECRET, "ADMIN_TOKEN": ADMIN})
    return service, catalog


def move(catalog, code, agency):
    """What an admin does in the catalog: counter ``code`` now belongs to ``agency``."""
    catalog.put("counters", {**catalog.counter(code), "agency": agency})


def counter_action(service, action, code, headers):
    handler, values = {"open": ("http_counter_open_close", {"action": "open"}),
                       "close": ("http_counter_open_close", {"action": "close"}),
                       "pause": ("http_counter_pause", {}),
                       "call-next": ("http_call_next", {})}[action]
    body = {"reason": "istirahat"} if action == "pause" else None
    return call(service, handler, f"/api/queue/counters/{code}/{action}", headers, body,
                counter=code, **values)


def ticket_action(worker, ticket_id, action, code, headers, **body):
    if action == "transfer":
        return call(worker, "http_transfer", f"/api/queue/tickets/{ticket_id}/transfer",
                    headers, {"counter": code, **body}, ticket_id=ticket_id)
    return call(worker, "http_act", f"/api/queue/tickets/{ticket_id}/{action}", headers,
                {"counter": code}, ticket_id=ticket_id, action=action)


def refused(answer, code):
    status, body = answer
    assert status == 403, body
    assert body["error"] == "forbidden" and body["counter"] == code
    assert body["message"] == (f"Loket {code} kini milik instansi BPJSKES, bukan instansi "
                               f"DISDUKCAPIL akun ini.")
    return True


def test_an_operator_loses_a_counter_moved_to_another_agency_at_once(hall):
    service, catalog = hall
    siti = operator()
    assert counter_action(service, "open", "L01", siti)[0] == 200
    issued = [service.commands.issue("KTP-EL")[0]["ticket_id"] for _ in range(3)]
    assert counter_action(service, "call-next", "L01", siti)[1]["ticket"]["ticket_id"] == \
        issued[0]
    move(catalog, "L01", "BPJSKES")  # the token still lists L01
    for action in ("open", "pause", "call-next", "close"):
        assert refused(counter_action(service, action, "L01", siti), "L01"), action
    for action in ("recall", "start", "complete", "no-show", "transfer"):
        assert refused(ticket_action(service, issued[0], action, "L01", siti,
                                     service="AKTA"), "L01"), action
    status, body = call(service, "http_counter_status", "/api/queue/counters/L01", siti,
                        counter="L01")
    assert refused((status, body), "L01")
    # nothing was done at L01: the ticket is still called there, as before the move
    assert service.queries.ticket(issued[0])["status"] == "called"


def test_each_ticket_action_checks_the_counter_s_current_agency(hall):
    service, catalog = hall
    siti = operator()
    counter_action(service, "open", "L01", siti)
    first = service.commands.issue("KTP-EL")[0]["ticket_id"]
    counter_action(service, "call-next", "L01", siti)
    assert ticket_action(service, first, "start", "L01", siti)[0] == 200
    move(catalog, "L01", "BPJSKES")
    assert refused(ticket_action(service, first, "complete", "L01", siti), "L01")
    move(catalog, "L01", "DISDUKCAPIL")  # moved back: the binding works again
    assert ticket_action(service, first, "complete", "L01", siti)[1]["status"] == "completed"


def test_admins_keep_acting_at_a_moved_counter(hall):
    service, catalog = hall
    move(catalog, "L01", "BPJSKES")
    admin = bearer(ADMIN)
    assert counter_action(service, "open", "L01", admin)[0] == 200
    service.commands.issue("KTP-EL")
    assert counter_action(service, "call-next", "L01", admin)[1]["ticket"] is not None


def test_the_token_s_counter_list_is_still_checked(hall):
    service, _ = hall
    status, body = counter_action(service, "open", "L02", operator())
    assert status == 403 and body["message"] == "Akun ini tidak bertugas di loket L02."
