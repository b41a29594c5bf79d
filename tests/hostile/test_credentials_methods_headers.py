"""Requests without a token or with a bad one, with methods the route does not take,
and with odd values in the headers the services read (Last-Event-ID, X-Ticket-Secret)."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.hostile.routes import SERVICES
from tests.hostile.support import BAD_AUTH, attempt, check_answer, hostile_settings, send

# Header values an HTTP client can send: latin-1, no line breaks.
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
                      max_size=40).map(str.strip) | st.sampled_from(
    ("\u00b2", "\u00b9", "\u00b3", "1\u00b2", "\u00bd", "99999999999999999999999", "-1", "0", "",
     "1e3", "\u00ff" * 200))


def _valid_body(route):
    return None if route.body is None else json.dumps(route.body).encode()


@pytest.mark.parametrize("service", sorted(SERVICES))
@hostile_settings(max_examples=60)
@given(data=st.data())
def test_without_a_token_or_with_a_bad_one(target, service, data):
    route = data.draw(st.sampled_from(SERVICES[service]), label="route")
    auth = data.draw(st.sampled_from(BAD_AUTH), label="Authorization")
    answer = attempt(target, route, body=_valid_body(route), content_type="application/json",
                     auth=auth)
    if auth is not None and route.path != "/health" and answer.status == 401:
        assert answer.json()["error"] == "unauthorized", str(answer)


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_methods_a_route_does_not_take_are_a_json_405_and_write_nothing(target, service):
    failures = []
    for route in SERVICES[service]:
        taken = {r.method for r in SERVICES[service] if r.path == route.path}
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"):
            if method in taken:
                continue
            try:
                answer = attempt(target, route, method=method, body=_valid_body(route),
                                 content_type="application/json", never_writes=True)
                # werkzeug answers OPTIONS itself (204 and an Allow header): that is fine.
                expected = (200, 204, 404, 405) if method == "OPTIONS" else (404, 405)
                assert answer.status in expected, f"expected {expected}\n{answer}"
            except AssertionError as exc:
                failures.append(f"{method} {route.path}: {str(exc)[:300]}")
    assert not failures, f"{len(failures)} failing:\n" + "\n".join(failures)


@hostile_settings(max_examples=40)
@given(data=st.data())
@pytest.mark.parametrize("service", ["notify"])
def test_odd_last_event_ids_on_the_display_stream(target, service, data):
    """A display board resuming its stream names the last event it saw."""
    [route] = [r for r in SERVICES["notify"] if r.path.endswith("/stream")]
    resume = data.draw(header_text, label="Last-Event-ID")
    answer = send(target, route, headers={"Last-Event-ID": resume})
    check_answer(answer)


@hostile_settings(max_examples=60)
@given(data=st.data())
@pytest.mark.parametrize("service", ["queue"])
def test_odd_ticket_secrets(target, service, data):
    """A citizen's ticket secret travels in X-Ticket-Secret: odd ones are a 401."""
    routes = [r for r in SERVICES["queue"] if "{ticket_id}" in r.path and "/{action}" not in r.path
              and not r.path.endswith("/transfer")]
    route = data.draw(st.sampled_from(routes), label="route")
    secret = data.draw(header_text, label="X-Ticket-Secret")
    answer = attempt(target, route, body=_valid_body(route), content_type="application/json",
                     auth=data.draw(st.sampled_from((None, "Bearer garbage"))),
                     headers={"X-Ticket-Secret": secret})
    if secret:
        assert answer.status in (401, 404), str(answer)
