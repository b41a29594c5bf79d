"""Hostile request bodies: any JSON, valid bodies with wrong fields, raw bytes, deep
nesting, and bodies just over the 1 MiB limit."""

import copy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.hostile.routes import SERVICES, case_id, cases
from tests.hostile.support import (
    DEEP_BODIES,
    MAX_BODY_BYTES,
    WRONG_VALUES,
    YAML_BODIES,
    attempt,
    changes_between,
    dumps,
    hostile_bodies,
    hostile_settings,
    send,
    snapshot,
    with_deep_field,
)

BODY_ROUTES = cases(lambda route: route.body is not None)


@pytest.mark.parametrize(("service", "route"), BODY_ROUTES, ids=case_id)
@hostile_settings(max_examples=60)
@given(data=st.data())
def test_hostile_bodies_get_a_json_4xx_and_write_nothing(target, route, data):
    raw, content_type = data.draw(hostile_bodies(route), label="body, content type")
    attempt(target, route, body=raw, content_type=content_type)


@pytest.mark.parametrize(("service", "route"), BODY_ROUTES, ids=case_id)
def test_each_field_with_each_wrong_value(target, route):
    """Field by field (top level, then one level down), every wrong type and edge value."""
    failures = []
    for path, value in _field_variants(route.body):
        body = _set(route.body, path, value)
        try:
            attempt(target, route, body=dumps(body), content_type="application/json")
        except AssertionError as exc:
            failures.append(f"{'.'.join(map(str, path))} = {value!r:.60}: {str(exc)[:400]}")
    assert not failures, f"{len(failures)} failing field value(s):\n" + "\n".join(failures[:12])


@pytest.mark.parametrize("service", sorted({s for s, _ in BODY_ROUTES}))
def test_deeply_nested_json_is_a_400(request, service):
    """5,000 (and 100,000) levels of nesting, alone or inside a valid body's field."""
    target = request.getfixturevalue(f"{service}_target")
    failures = []
    for route in SERVICES[service]:
        if route.body is None:
            continue
        bodies = {**DEEP_BODIES, "inside a field": with_deep_field(route.body)}
        if route.document:
            bodies.update({f"yaml {i}": body for i, body in enumerate(YAML_BODIES[-2:])})
        for name, body in bodies.items():
            for content_type in ("application/json", "text/plain"):
                try:
                    answer = attempt(target, route, body=body, content_type=content_type)
                    assert answer.status == 400, f"expected 400\n{answer}"
                except AssertionError as exc:
                    failures.append(f"{route} [{name}, {content_type}]: {str(exc)[:300]}")
    assert not failures, f"{len(failures)} failing:\n" + "\n".join(failures[:12])


@pytest.mark.parametrize("service", sorted({s for s, _ in BODY_ROUTES}))
def test_a_body_one_byte_over_the_limit_is_a_json_413(request, service):
    """1 MiB + 1 byte (as JSON and as garbage) is 413; exactly 1 MiB of garbage is read
    (and refused as 400)."""
    target = request.getfixturevalue(f"{service}_target")
    padding = b" " * (MAX_BODY_BYTES + 1 - len(b'{"a":""}'))
    over = {"json": b'{"a":"' + padding + b'"}', "garbage": b"x" * (MAX_BODY_BYTES + 1)}
    failures = []
    for route in SERVICES[service]:
        if route.body is None:
            continue
        for name, body in over.items():
            try:
                answer = attempt(target, route, body=body, content_type="application/json")
                assert answer.status == 413, f"expected 413\n{answer}"
            except AssertionError as exc:
                failures.append(f"{route} [{name}]: {str(exc)[:300]}")
        try:
            answer = attempt(target, route, body=b"x" * MAX_BODY_BYTES, content_type="application/json")
            assert answer.status == 400, f"expected 400\n{answer}"
        except AssertionError as exc:
            failures.append(f"{route} [exactly 1 MiB]: {str(exc)[:300]}")
    assert not failures, f"{len(failures)} failing:\n" + "\n".join(failures)


@pytest.mark.parametrize("service", sorted({s for s, _ in BODY_ROUTES}))
def test_a_chunked_body_over_the_limit_is_refused(request, service):
    """Without a Content-Length (Transfer-Encoding: chunked) the limit still holds: the
    body is refused as too large (413) or for its missing length (411), never ignored."""
    target = request.getfixturevalue(f"{service}_target")
    failures = []
    for route in SERVICES[service]:
        if route.body is None:
            continue
        try:
            answer = attempt(target, route, body=_chunks(b"x" * (MAX_BODY_BYTES + 1)),
                             content_type="application/json")
            assert answer.status in (411, 413), f"expected 413 (or 411)\n{answer}"
        except AssertionError as exc:
            failures.append(f"{route}: {str(exc)[:400]}")
    assert not failures, f"{len(failures)} failing:\n" + "\n".join(failures)


def _chunks(raw, size=64 * 1024):
    """A generator body: requests sends it chunked, without a Content-Length."""
    for start in range(0, len(raw), size):
        yield raw[start:start + size]


def _field_variants(body):
    for name in ("extra", "\ud800", "\x00", "$where", "a.b"):  # unknown fields, odd names
        yield (name,), 1
    for key, value in body.items():
        for wrong in WRONG_VALUES:
            yield (key,), wrong
        if isinstance(value, dict):
            for inner in value:
                for wrong in WRONG_VALUES:
                    yield (key, inner), wrong
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for inner in value[0]:
                for wrong in WRONG_VALUES:
                    yield (key, 0, inner), wrong


def _set(body, path, value):
    body = copy.deepcopy(body)
    parent = body
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return body


@pytest.mark.parametrize(("service", "path"), [
    ("catalog", "/api/catalog/{kind}"), ("queue", "/api/queue/tickets"), ("notify", "/api/notify/webhooks")])
def test_the_snapshot_sees_a_write(target, service, path):
    """The "nothing written" check is not vacuous: a valid write changes the snapshot."""
    [route] = [r for r in SERVICES[service] if r.path == path and r.method == "POST"][:1]
    before = snapshot(target)
    answer = send(target, route, body=dumps(route.body), content_type="application/json")
    assert answer.status == 201, str(answer)
    assert changes_between(before, snapshot(target)), "a write the snapshot did not see"
