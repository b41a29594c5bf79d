"""Hostile query strings and path parameters."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.hostile.routes import case_id, cases
from tests.hostile.support import (
    EDGE_VALUES,
    ODD_STRINGS,
    attempt,
    hostile_path,
    hostile_queries,
    hostile_settings,
    quote,
)

QUERY_ROUTES = cases(lambda route: route.query)
PATH_ROUTES = cases(lambda route: route.params)


@pytest.mark.parametrize(("service", "route"), QUERY_ROUTES, ids=case_id)
@hostile_settings(max_examples=60)
@given(data=st.data())
def test_hostile_query_strings(target, route, data):
    query = data.draw(hostile_queries(route), label="query")
    attempt(target, route, query=query)


@pytest.mark.parametrize(("service", "route"), PATH_ROUTES, ids=case_id)
@hostile_settings(max_examples=40)
@given(data=st.data())
def test_hostile_path_parameters(target, route, data):
    """One path parameter odd (the rest, and the body, valid): 404 or another JSON 4xx."""
    params = data.draw(hostile_path(route), label="path parameter")
    body = None if route.body is None else json.dumps(route.body).encode()
    attempt(target, route, params=params, body=body, content_type="application/json")


@pytest.mark.parametrize(("service", "route"), QUERY_ROUTES, ids=case_id)
def test_every_known_query_parameter_with_every_edge_value(target, route):
    """Deterministic companion of the hypothesis test: each known parameter alone, and
    repeated, with each edge value."""
    failures = []
    for key in route.query:
        for value in EDGE_VALUES + ODD_STRINGS:
            for query in (f"{quote(key)}={quote(value)}",
                          f"{quote(key)}=1&{quote(key)}={quote(value)}"):
                try:
                    attempt(target, route, query=query)
                except AssertionError as exc:
                    failures.append(f"?{query[:120]}: {str(exc)[:400]}")
    assert not failures, f"{len(failures)} failing:\n" + "\n".join(failures[:12])
