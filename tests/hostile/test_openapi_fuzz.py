"""Every service against its own OpenAPI document, with schemathesis.

For each operation of ``docs/openapi/<service>.yaml`` schemathesis generates a bounded
number of requests from the document (valid ones and, through the document, near
misses) and checks each answer: never a 5xx, a status the document lists, the
documented content type, and a body that matches the documented schema.
"""

import re
from pathlib import Path

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.hostile.conftest import ADMIN_HEADERS

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = 8  # per operation: bounded, so that make test stays short
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
SKIP = {  # operations that never answer within a request (a stream stays open)
    ("GET", "/api/notify/display/{site}/stream"),
}


def document(service):
    return yaml.safe_load((ROOT / "docs" / "openapi" / f"{service}.yaml").read_text("utf-8"))


def failures_of(spec, base_url, headers):
    """``["METHOD path: what failed", ...]`` over every operation of the document."""
    schema = schemathesis.openapi.from_dict(spec)
    found = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIP:
            continue

        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case):
            response = case.call(base_url=base_url, headers=headers, timeout=10)
            case.validate_response(response, checks=CHECKS)

        try:
            check()
        except (Exception, BaseExceptionGroup) as failure:  # every failure is reported below
            found.append(f"{operation.method.upper()} {operation.path}: "
                         f"{str(failure).strip()[:800]}")
    return found


@pytest.mark.parametrize("service", ["catalog", "queue", "notify", "reporting"])
def test_every_answer_agrees_with_the_openapi_document(service, request):
    target = request.getfixturevalue(f"{service}_target")
    failures = failures_of(document(service), target.http.base, ADMIN_HEADERS)
    assert not failures, "\n\n".join(failures)


def test_the_check_bites_on_an_answer_the_document_does_not_describe(queue_target):
    """The same run over a document that promises what the queue does not answer: a
    required field its health answer lacks, and no 404 for an unknown ticket."""
    spec = document("queue")
    health = spec["paths"]["/health"]["get"]["responses"]["200"]["content"]["application/json"]
    health["schema"] = {"type": "object", "required": ["uptime_seconds"]}
    ticket = spec["paths"]["/api/queue/tickets/{ticket_id}"]["get"]["responses"]
    ticket.pop("404", None)
    spec["paths"] = {path: spec["paths"][path]
                     for path in ("/health", "/api/queue/tickets/{ticket_id}")}
    failures = failures_of(spec, queue_target.http.base, ADMIN_HEADERS)
    assert [failure.split(":")[0] for failure in failures] == [
        "GET /health", "GET /api/queue/tickets/{ticket_id}"], failures


METHODS = ("get", "post", "put", "patch", "delete")


@pytest.mark.parametrize("service", ["catalog", "queue", "notify", "reporting"])
def test_a_method_a_path_does_not_take_is_a_405_naming_the_ones_it_does(service, request):
    """RFC 9110: a 405 carries ``Allow``; it lists every method the document gives."""
    target = request.getfixturevalue(f"{service}_target")
    failures = []
    for path, item in document(service)["paths"].items():
        taken = {method.upper() for method in item if method in METHODS}
        tried = next(m for m in ("DELETE", "PUT", "PATCH", "POST") if m not in taken)
        url = re.sub(r"\{[^}]+\}", "X1", path)
        answer = getattr(target.http, tried.lower())(url, headers=ADMIN_HEADERS)
        allowed = {m.strip() for m in answer.headers.get("Allow", "").split(",") if m.strip()}
        if answer.status_code != 405 or not taken <= allowed or tried in allowed:
            failures.append(f"{tried} {url}: {answer.status_code} Allow={sorted(allowed)} "
                            f"(the document: {sorted(taken)})")
    assert not failures, "\n".join(failures)
