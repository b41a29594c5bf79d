"""A trailing newline never passes for the value before it.

Python's ``re.match`` (and marshmallow's ``validate.Regexp``) let ``$`` match before a
final newline, so ``"SECNL\\n"`` once passed for a site code (and its daily report then
answered 500) and ``?agency=X%0A`` for a filter. Every format check now matches whole
(services.kernel.validation.Pattern) and no query value may carry a control character.
"""

import json
import re

import pytest

from tests.hostile.routes import SERVICES, cases
from tests.hostile.support import attempt, dumps, quote

# A body's text that is a code or another format (clock time, prefix, user name, event
# type), not free text: no spaces, no slashes. Names, a service's product, a password, a
# secret and a phone number are texts of their own (a phone number's spaces and dashes
# are dropped on purpose). A login's user name is looked up, not checked: any wrong one
# is a 401.
FORMATTED = re.compile(r"[A-Za-z0-9._*:-]+")
FREE_TEXT = {"name", "product", "password", "secret", "phone"}
BODY_ROUTES = cases(lambda route: route.body is not None and route.path != "/api/catalog/auth/login")
QUERY_ROUTES = cases(lambda route: route.query)


def formatted_leaves(value, path=()):
    """``(path, text)`` of every formatted text in a body (list items and nested too)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from formatted_leaves(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from formatted_leaves(item, (*path, i))
    elif isinstance(value, str) and FORMATTED.fullmatch(value):
        names = [step for step in path if isinstance(step, str)]
        if names and names[-1] not in FREE_TEXT:
            yield path, value


def with_value(body, path, value):
    body = json.loads(json.dumps(body))
    parent = body
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return body


def field_named(answer, name):
    """Whether a 400's ``fields`` names ``name`` (a dotted path that holds it)."""
    problems = answer.json().get("fields", {})
    return any(name in re.split(r"[.\[\]]", key) for key in problems)


def test_a_site_code_with_a_trailing_newline_is_refused_naming_the_field(catalog_target):
    [route] = [r for r in SERVICES["catalog"] if r.method == "POST" and r.path == "/api/catalog/{kind}"
               and r.params["kind"] == "sites"]
    answer = attempt(catalog_target, route, body=dumps({**route.body, "code": "SECNL\n"}),
                     content_type="application/json")
    assert answer.status == 400 and field_named(answer, "code"), str(answer)
    assert catalog_target.db.sites.count_documents({"code": {"$regex": "^SECNL"}}) == 0


def test_a_list_filter_with_a_trailing_newline_is_refused_naming_the_parameter(catalog_target):
    [route] = [r for r in SERVICES["catalog"] if r.method == "GET" and r.path == "/api/catalog/{kind}"
               and r.params["kind"] == "services"]
    for query in ("agency=DISDUKCAPIL%0A", "agency=X%0A", "q=KTP%0A", "limit=5%0A", "active=true%0D"):
        answer = attempt(catalog_target, route, query=query)
        assert answer.status == 400 and field_named(answer, query.split("=")[0]), str(answer)


@pytest.mark.parametrize(("service", "route"), BODY_ROUTES, ids=str)
def test_every_formatted_body_field_refuses_a_trailing_newline(target, route):
    leaves = list(formatted_leaves(route.body))
    failures = []
    for path, value in leaves:
        body = with_value(route.body, path, value + "\n")
        answer = attempt(target, route, body=dumps(body), content_type="application/json")
        name = [step for step in path if isinstance(step, str)][-1]
        if answer.status != 400 or not field_named(answer, name):
            failures.append(f"{'.'.join(map(str, path))} = {value!r}\\n: {str(answer)[:300]}")
    assert not failures, f"{len(failures)} of {len(leaves)} accepted:\n" + "\n".join(failures[:12])


# A value each query parameter accepts, for the routes that have them.
GOOD_QUERY_VALUES = {"site": "BWI", "agency": "DISDUKCAPIL", "service": "KTP-EL", "counter": "L01",
                     "q": "KTP", "limit": "5", "offset": "0", "active": "true", "kind": "bank",
                     "status": "waiting", "day": "2024-01-01", "date": "2024-01-01",
                     "from": "2024-01-01", "to": "2024-01-02", "format": "json", "mode": "merge",
                     "dry_run": "true", "lang": "id", "after": "1"}


@pytest.mark.parametrize(("service", "route"), QUERY_ROUTES, ids=str)
def test_every_query_parameter_refuses_control_characters(target, route):
    failures = []
    for name in route.query:
        for suffix in ("\n", "\r", "\t", "\x00", "\x1b"):
            query = f"{quote(name)}={quote(GOOD_QUERY_VALUES[name] + suffix)}"
            if route.path == "/api/reporting/ikm" or route.path == "/api/reporting/ikm.csv":
                query += "".join(f"&{k}={GOOD_QUERY_VALUES[k]}" for k in ("from", "to") if k != name)
            answer = attempt(target, route, query=query)
            if answer.status != 400 or not field_named(answer, name):
                failures.append(f"?{query}: {str(answer)[:300]}")
    assert not failures, f"{len(failures)} accepted:\n" + "\n".join(failures[:12])
