"""The OpenAPI documents in ``docs/openapi/`` describe the HTTP APIs as implemented.

* each document is valid OpenAPI 3.1;
* the routes documented are exactly the nameko HTTP entrypoints of the service;
* request bodies and query parameters mirror the marshmallow schemas that load them
  (fields, required, defaults, enums, ranges, lengths, patterns, unknown fields);
* every JSON example is valid against the schema it illustrates;
* reporting: what the service answers for a scripted day (every route, errors too) is
  valid against the documented response, names exactly the documented fields, and is
  the documented example; the CSV columns and metric names are the documented ones;
* notify: what the service answers after a scripted morning (every route, errors too)
  is valid against the documented response and names no undocumented field; the stream
  is the documented Server-Sent Events wire format and resumes as documented; the
  webhook POSTs an agency receives are the documented CloudEvent, headers and signature.
"""

import csv
import functools
import hashlib
import hmac
import io
import itertools
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from unittest.mock import patch

import mongomock
import pytest
import yaml
from cryptography.fernet import Fernet
from marshmallow import RAISE, ValidationError, fields, missing
from marshmallow import validate as checks
from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR
from nameko.testing.services import worker_factory
from nameko.web.handlers import HttpRequestHandler
from openapi_schema_validator import OAS31Validator, oas31_format_checker
from openapi_spec_validator import validate
from werkzeug.routing import Map, Rule
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from services.catalog import schemas as cs
from services.catalog.domain import KINDS
from services.catalog.schemas import HHMM, ClockTime
from services.catalog.service import CatalogService
from services.kernel import auth
from services.kernel.http import json_response
from services.notify import schemas as ns
from services.notify import service as notify_module
from services.notify.crypto import Vault
from services.notify.providers import LogProvider
from services.notify.repository import NotifyRepository
from services.notify.service import NotifyService
from services.queue import domain as queue_domain
from services.queue import schemas as qs
from services.queue.service import QueueService
from services.reporting import domain as reporting_domain
from services.reporting import ikm
from services.reporting import schemas as rs
from services.reporting.repository import ReportingRepository
from services.reporting.service import ReportingService

DOCS = Path(__file__).resolve().parents[2] / "docs" / "openapi"
SERVICES = {"catalog": CatalogService, "queue": QueueService, "notify": NotifyService,
            "reporting": ReportingService}
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
CONVERTER = re.compile(r"<(?:(\w+)(?:\(([^)]*)\))?:)?(\w+)>")


@functools.cache
def load(name):
    return yaml.safe_load((DOCS / f"{name}.yaml").read_text(encoding="utf-8"))


def deref(spec, node):
    """``node`` with local ``$ref``s followed."""
    while isinstance(node, dict) and "$ref" in node:
        target = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


# -- routes -------------------------------------------------------------------------------

def expand(url):
    """A werkzeug rule as OpenAPI paths: one per alternative of ``<any(...)>``, and
    ``{name}`` for every other converter."""
    match = CONVERTER.search(url)
    if match is None:
        return [url]
    converter, args, name = match.groups()
    head, tail = url[: match.start()], url[match.end():]
    if converter == "any":
        choices = [choice.strip().strip("'\"") for choice in args.split(",")]
        return [path for choice in choices for path in expand(head + choice + tail)]
    return [head + "{" + name + "}" + path for path in expand(tail)]


def http_handlers(service_class):
    """``{(METHOD, OpenAPI path): name of the handler method}``."""
    handlers = {}
    for attribute in dir(service_class):
        entrypoints = getattr(getattr(service_class, attribute), ENTRYPOINT_EXTENSIONS_ATTR, set())
        for entrypoint in entrypoints:
            if isinstance(entrypoint, HttpRequestHandler):
                handlers.update({(entrypoint.method.upper(), path): attribute
                                 for path in expand(entrypoint.url)})
    return handlers


def implemented_routes(service_class):
    return set(http_handlers(service_class))


def url_map(service_class):
    """The werkzeug rules of the service's HTTP entrypoints, as nameko routes them."""
    rules = []
    for attribute in dir(service_class):
        entrypoints = getattr(getattr(service_class, attribute), ENTRYPOINT_EXTENSIONS_ATTR, set())
        rules += [Rule(entrypoint.url, methods=[entrypoint.method], endpoint=attribute)
                  for entrypoint in entrypoints if isinstance(entrypoint, HttpRequestHandler)]
    return Map(rules)


def documented_routes(spec):
    return {(method.upper(), path)
            for path, item in spec["paths"].items() for method in item if method in METHODS}


def test_expand_turns_converters_into_openapi_paths():
    assert expand("/a/<any(x, 'y'):kind>/<code>/<int:n>") == ["/a/x/{code}/{n}", "/a/y/{code}/{n}"]


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_document_is_valid_openapi_3_1(name):
    spec = load(name)
    assert spec["openapi"].startswith("3.1")
    validate(spec)


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_documented_routes_are_exactly_the_implemented_ones(name):
    implemented = implemented_routes(SERVICES[name])
    documented = documented_routes(load(name))
    assert ("GET", "/health") in implemented
    assert not implemented - documented, f"not documented: {sorted(implemented - documented)}"
    assert not documented - implemented, f"not implemented: {sorted(documented - implemented)}"


# -- request bodies and query parameters mirror the marshmallow schemas ---------------------

BODIES = {
    "catalog": {
        **{("POST", f"/api/catalog/{kind}"): (cs.entity_schema(kind), False) for kind in KINDS},
        **{("PATCH", f"/api/catalog/{kind}/{{code}}"): (cs.entity_schema(kind, partial=True), True)
           for kind in KINDS},
    },
    "queue": {
        ("POST", "/api/queue/tickets"): (qs.IssueTicketSchema(), False),
        ("POST", "/api/queue/tickets/{ticket_id}/cancel"): (qs.CancelSchema(), False),
        ("POST", "/api/queue/tickets/{ticket_id}/feedback"): (qs.FeedbackSchema(), False),
        ("POST", "/api/queue/tickets/{ticket_id}/transfer"): (qs.TransferSchema(), False),
        ("POST", "/api/queue/counters/{counter}/pause"): (qs.PauseSchema(), False),
        **{("POST", f"/api/queue/tickets/{{ticket_id}}/{action}"): (qs.CounterActionSchema(), False)
           for action in ("recall", "start", "complete", "no-show")},
    },
    "notify": {
        ("POST", "/api/notify/webhooks"): (ns.WebhookSchema(), False),
    },
    "reporting": {},  # no endpoint reads a body
}
QUERIES = {
    "catalog": {
        **{("GET", f"/api/catalog/{kind}"):
           cs.ListQuerySchema(only=(*cs.FILTERS[kind], "limit", "offset")) for kind in KINDS},
        ("POST", "/api/catalog/import"): cs.ImportQuerySchema(),
        ("GET", "/api/catalog/export"): cs.ExportQuerySchema(),
    },
    "queue": {
        ("GET", "/api/queue/tickets"): qs.TicketListQuerySchema(),
        ("GET", "/api/queue/overview"): qs.OverviewQuerySchema(),
    },
    "notify": {
        ("GET", "/display/{site}"): ns.DisplayQuerySchema(),
        ("GET", "/api/notify/display/{site}/stream"): ns.StreamQuerySchema(),
        ("GET", "/api/notify/display/{site}/recent"): ns.RecentQuerySchema(),
        ("GET", "/api/notify/webhooks"): ns.WebhookListQuerySchema(),
        ("GET", "/api/notify/webhooks/{webhook_id}/deliveries"): ns.DeliveryQuerySchema(),
    },
    "reporting": {
        ("GET", "/api/reporting/daily"): rs.DailyQuerySchema(),
        ("GET", "/api/reporting/daily.csv"): rs.DailyQuerySchema(),
        ("GET", "/api/reporting/breakdown"): rs.DailyQuerySchema(),
        ("GET", "/api/reporting/ikm"): rs.IkmQuerySchema(),
        ("GET", "/api/reporting/ikm.csv"): rs.IkmQuerySchema(),
        ("GET", "/api/reporting/dead-letters"): rs.LimitQuerySchema(),
        ("POST", "/api/reporting/dead-letters/replay"): rs.LimitQuerySchema(),
    },
}
TYPES = [(fields.Boolean, "boolean"), (fields.Integer, "integer"), (fields.String, "string"),
         (fields.Date, "string"), (fields.List, "array"), (fields.Nested, "object"),
         (fields.Dict, "object")]


def wire_fields(schema):
    """``{name on the wire: field}``: a field's ``data_key`` (``from``) when it has one."""
    return {field.data_key or name: field for name, field in schema.load_fields.items()}


def operation(spec, method, path):
    return spec["paths"][path][method.lower()]


def json_body_schema(spec, method, path):
    body = deref(spec, operation(spec, method, path)["requestBody"])
    return body["content"]["application/json"]["schema"]


def split_null(spec, prop):
    """``(schema without its null alternative, nullable)``."""
    prop = deref(spec, prop)
    for key in ("oneOf", "anyOf"):
        options = prop.get(key)
        if options and any(deref(spec, o) == {"type": "null"} for o in options):
            others = [o for o in options if deref(spec, o) != {"type": "null"}]
            assert len(others) == 1, prop
            outer = {k: v for k, v in prop.items() if k != key}
            return {**deref(spec, others[0]), **outer}, True
    kinds = prop.get("type")
    if isinstance(kinds, list) and "null" in kinds:
        rest = [k for k in kinds if k != "null"]
        return {**prop, "type": rest[0] if len(rest) == 1 else rest}, True
    return prop, False


def expected_default(field):
    """The default OpenAPI can declare for ``field`` (``missing``: none)."""
    default = field.load_default
    if default is missing:
        return missing
    default = default() if callable(default) else default
    try:
        field.deserialize(default)
    except ValidationError:
        return missing  # the field refuses its own default: OpenAPI cannot declare it
    return default


def bounds(field, validator):
    """JSON Schema keywords for one marshmallow validator."""
    if isinstance(validator, checks.URL):
        return {}  # checked as ``format: uri`` (the schemes are described)
    if isinstance(validator, checks.Range):
        return {"minimum": validator.min, "maximum": validator.max}
    if isinstance(validator, checks.Length):
        if isinstance(field, fields.List):
            return {"minItems": validator.min, "maxItems": validator.max}
        return {"minLength": validator.min, "maxLength": validator.max}
    if isinstance(validator, checks.OneOf):
        return {"enum": set(validator.choices)}
    if isinstance(validator, checks.Regexp):
        return {"pattern": validator.regex.pattern}
    if isinstance(validator, checks.Equal):
        return {"const": validator.comparable}
    raise AssertionError(f"no OpenAPI keyword known for {validator!r}")


KEYWORDS = ("minimum", "maximum", "minItems", "maxItems", "minLength", "maxLength", "enum",
            "pattern", "const")


def check_field(spec, field, prop, where, partial=False, query=False):
    prop, nullable = split_null(spec, prop)
    expected_type = next(name for cls, name in TYPES if isinstance(field, cls))
    assert prop.get("type") == expected_type, f"{where}: type {prop.get('type')!r}"
    if isinstance(field, fields.Date):
        assert prop.get("format") == "date", f"{where}: format"
    if isinstance(field, fields.Url):
        assert prop.get("format") == "uri", f"{where}: format"
    if not query:
        assert nullable == field.allow_none, f"{where}: null allowed is {field.allow_none}"
    default = missing if partial else expected_default(field)
    if query and default is None:
        default = missing  # an absent query parameter is None
    assert prop.get("default", missing) == default, f"{where}: default {default!r}"
    expected = {}
    for validator in field.validators:
        expected.update({k: v for k, v in bounds(field, validator).items() if v is not None})
    if isinstance(field, ClockTime):
        expected["pattern"] = HHMM.pattern
    found = {k: set(prop[k]) - {None} if k == "enum" else prop[k] for k in KEYWORDS if k in prop}
    assert found == expected, f"{where}: constraints"
    if isinstance(field, fields.Nested):
        check_schema(spec, field.schema, prop, where)
    elif isinstance(field, fields.List):
        check_field(spec, field.inner, prop["items"], f"{where}[]")
    elif isinstance(field, fields.Dict):
        keys = deref(spec, prop["propertyNames"])
        expected_keys = {}
        for validator in field.key_field.validators:
            expected_keys.update(bounds(field.key_field, validator))
        assert {k: set(v) for k, v in keys.items()} == expected_keys, f"{where}: keys"
        check_field(spec, field.value_field, prop["additionalProperties"], f"{where}{{}}")


def check_schema(spec, schema, obj, where, partial=False):
    obj = deref(spec, obj)
    loaded = wire_fields(schema)
    assert set(obj["properties"]) == set(loaded), f"{where}: properties"
    required = {name for name, field in loaded.items() if field.required and not partial}
    assert set(obj.get("required", ())) == required, f"{where}: required"
    strict = schema.unknown == RAISE
    assert (obj.get("additionalProperties") is False) == strict, f"{where}: unknown fields"
    for name, field in loaded.items():
        check_field(spec, field, obj["properties"][name], f"{where}.{name}", partial=partial)


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_request_bodies_mirror_the_marshmallow_schemas(name):
    spec = load(name)
    for (method, path), (schema, partial) in BODIES[name].items():
        check_schema(spec, schema, json_body_schema(spec, method, path), f"{method} {path}",
                     partial=partial)


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_query_parameters_mirror_the_marshmallow_schemas(name):
    spec = load(name)
    for (method, path), schema in QUERIES[name].items():
        parameters = [deref(spec, p) for p in operation(spec, method, path).get("parameters", ())]
        query = {p["name"]: p for p in parameters if p["in"] == "query"}
        where = f"{method} {path}"
        loaded = wire_fields(schema)
        assert set(query) == set(loaded), f"{where}: query parameters"
        for key, field in loaded.items():
            assert query[key].get("required", False) == field.required, f"{where}?{key}: required"
            check_field(spec, field, query[key]["schema"], f"{where}?{key}", query=True)


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_documented_query_is_checked_against_its_schema(name):
    spec = load(name)
    for path, item in spec["paths"].items():
        for method in (m for m in item if m in METHODS):
            parameters = [deref(spec, p) for p in (*item.get("parameters", ()),
                                                   *item[method].get("parameters", ()))]
            if any(p["in"] == "query" for p in parameters):
                assert (method.upper(), path) in QUERIES[name], f"{method.upper()} {path}"


def test_catalog_document_is_the_entities_as_created():
    spec = load("catalog")
    for media in ("application/json", "application/yaml"):
        body = operation(spec, "POST", "/api/catalog/import")["requestBody"]["content"][media]
        document = deref(spec, body["schema"])
        header = cs.DocumentHeaderSchema()
        assert set(document["properties"]) == set(header.load_fields) | set(KINDS)
        assert document["additionalProperties"] is False
        check_field(spec, header.fields["version"], document["properties"]["version"], "version")
        for kind in KINDS:
            items = document["properties"][kind]["items"]
            assert items == json_body_schema(spec, "POST", f"/api/catalog/{kind}"), kind


# -- examples ----------------------------------------------------------------------------------

def media_examples(spec, node, key=None):
    """``(where, schema, example)`` for every JSON example in ``node``."""
    if isinstance(node, list):
        for item in node:
            yield from media_examples(spec, item)
        return
    if not isinstance(node, dict):
        return
    json_like = key is None or "/" not in key or key.endswith("json")
    if "schema" in node and json_like:
        if "example" in node:
            yield key, node["schema"], node["example"]
        for example_name, example in (node.get("examples") or {}).items():
            yield f"{key} {example_name}", node["schema"], deref(spec, example)["value"]
    for child_key, child in node.items():
        if child_key not in ("example", "examples", "schema"):
            yield from media_examples(spec, child, child_key)


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_examples_match_their_schemas(name):
    spec = load(name)
    found = list(media_examples(spec, {
        "paths": spec["paths"], "webhooks": spec.get("webhooks", {}),
        "components": {k: v for k, v in spec["components"].items() if k != "schemas"}}))
    assert len(found) > 20
    for where, schema, example in found:
        validator = OAS31Validator({**schema, "components": spec["components"]},
                                   format_checker=oas31_format_checker)
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                  for e in validator.iter_errors(example)]
        assert not errors, f"{name} {where}: {errors}"


# -- reporting: what the service answers for a scripted day ---------------------------------

ADMIN = "rahasia-admin"
DAY = "2026-11-23"  # a Monday; Banyuwangi is UTC+7
NAMES = {
    ("agencies", "DISDUKCAPIL"): "Dinas Kependudukan dan Pencatatan Sipil",
    ("agencies", "IMIGRASI"): "Kantor Imigrasi Kelas II Non TPI Banyuwangi",
    ("services", "DISDUKCAPIL-KTP-EL"): "Perekaman KTP Elektronik",
    ("services", "DISDUKCAPIL-AKTA-LAHIR"): "Penerbitan Akta Kelahiran",
    ("services", "IMIGRASI-PASPOR-ELEKTRONIK"): "Permohonan Paspor Elektronik",
}
SERVICE_OF_PREFIX = {"DA": "DISDUKCAPIL-KTP-EL", "DN": "DISDUKCAPIL-AKTA-LAHIR",
                     "YB": "IMIGRASI-PASPOR-ELEKTRONIK"}
STATUS_AFTER = {"issue": "waiting", "call": "called", "recall": "called", "start": "serving",
                "complete": "completed", "no_show": "no_show", "cancel": "cancelled",
                "transfer": "transferred"}
TIME_OF = {"call": "called_at", "start": "serving_at", "complete": "ended_at",
           "no_show": "ended_at", "cancel": "ended_at", "transfer": "ended_at"}


def local(hhmm, day=DAY):
    """``"08:02"`` on ``day`` in Banyuwangi, in UTC."""
    return datetime.fromisoformat(f"{day}T{hhmm}:00+07:00").astimezone(UTC)


def story(number, issued, *steps, channel="kiosk", priority=None, **more):
    """The ticket events the queue publishes for one leg: ``steps`` are
    ``(action, "HH:MM", {changes})``."""
    service = SERVICE_OF_PREFIX[number[:2]]
    ticket = {"_id": f"t-{number}", "visit_id": f"t-{number}", "leg": 1, "site": "BWI",
              "agency": service.split("-")[0], "service": service, "ticket_number": number,
              "local_day": DAY, "channel": channel, "priority": priority,
              "target_wait_minutes": 30, "recalls": 0, "issued_at": local(issued), **more}
    events = []
    for action, hhmm, *changes in (("issue", issued), *steps):
        ticket.update(*changes, status=STATUS_AFTER[action])
        if action in TIME_OF:
            ticket[TIME_OF[action]] = local(hhmm)
        ticket["recalls"] += action == "recall"
        events.append(queue_domain.ticket_event(ticket, action, local(hhmm)).envelope("/antre/queue"))
    return ticket, events


def scripted_day():
    """Nine legs of a morning at MPP Banyuwangi and four surveys, as published events."""
    l01, l02, l26 = {"counter": "BWI-L01"}, {"counter": "BWI-L02"}, {"counter": "BWI-L26"}
    legs = [
        story("DA-001", "08:02", ("call", "08:10", l01), ("start", "08:11"), ("complete", "08:19")),
        story("DA-002", "08:05", ("call", "08:12", l02), ("start", "08:13"), ("complete", "08:25"),
              channel="web", priority="elderly"),
        story("DA-003", "08:20", ("call", "08:58", l01), ("start", "08:59"),
              ("transfer", "09:10", {"transferred_to": "t-DN-001"})),
        story("DN-001", "09:10", ("call", "09:15", l02), ("start", "09:16"), ("complete", "09:40"),
              channel="transfer", visit_id="t-DA-003", leg=2, transferred_from="t-DA-003"),
        story("DA-004", "08:40", ("call", "09:12", l01), ("recall", "09:14"), ("recall", "09:16"),
              ("no_show", "09:20")),
        story("DA-005", "09:30"),
        story("DN-002", "09:05", ("cancel", "09:25"), priority="pregnant"),
        story("YB-001", "08:30", ("call", "08:45", l26), ("start", "08:46"), ("complete", "09:05"),
              channel="appointment"),
        story("YB-002", "09:00", ("call", "09:20", l26), ("start", "09:21"),
              channel="web", priority="disability"),
    ]
    tickets = {ticket["ticket_number"]: ticket for ticket, _ in legs}
    events = [event for _, leg_events in legs for event in leg_events]
    surveys = [("DA-001", "08:21", [4, 4, 3, 4, 4, 4, 4, 3, 4]),
               ("DA-002", "08:27", [3, 3, 3, 4, 3, 4, 4, 3, 3]),
               ("DN-001", "09:42", [4, 3, 3, 4, 4, 3, 4, 3, 3]),
               ("YB-001", "09:07", [4, 4, 4, 4, 4, 4, 4, 4, 3])]
    for number, hhmm, scores in surveys:
        scores = dict(zip(ikm.ELEMENTS, scores, strict=True))
        events.append(queue_domain.feedback_event(tickets[number], scores, False, local(hhmm))
                      .envelope("/antre/queue"))
    return events


class FakeCatalogCache:
    """The catalog as the cache answers it: Banyuwangi's time zone and the names."""

    def get(self, key, load):
        return {"timezone": "Asia/Jakarta"} if key[0] == "site" else NAMES


class FakeOutbox:
    def __init__(self):
        self.relayed = []

    def relay_document(self, collection, document_id):
        self.relayed.append(collection.find_one({"_id": document_id}))


@pytest.fixture
def reporting():
    """The reporting service's worker over mongomock, having ingested the scripted day."""
    service = worker_factory(
        ReportingService, repository=ReportingRepository(mongomock.MongoClient().reporting),
        outbox=FakeOutbox(), catalog_rpc=None, catalog_cache=FakeCatalogCache(),
        config={"ADMIN_TOKEN": ADMIN})
    for event in scripted_day():
        service.ingest(json.loads(json.dumps(event)))
    return service


DEAD_LETTER = {
    "attempts": 5, "error": "KeyError: 'ticket_id'", "routing_key": "ticket.issued.DISDUKCAPIL",
    "event": {"specversion": "1.0", "id": "0b6f3c1e-9c2a-4d7e-8f41-5a0e2b7d9c13",
              "source": "/antre/queue", "type": "antre.ticket.issued.v1",
              "time": "2026-11-23T01:02:00.000Z", "subject": "tickets/t-DA-001",
              "datacontenttype": "application/json", "site": "BWI", "agency": "DISDUKCAPIL",
              "data": {"site": "BWI"}},
}
# (method, path, query, with the admin token, expected status, example name or None)
REPORTING_CALLS = [
    ("GET", "/health", "", False, 200, None),
    ("GET", "/api/reporting/daily", f"date={DAY}", False, 200, "morning"),
    ("GET", "/api/reporting/daily", "site=BWI&date=2026-11-24", False, 200, "empty"),
    ("GET", "/api/reporting/daily", "date=23-11-2026&day=2026-11-23", False, 400, None),
    ("GET", "/api/reporting/daily.csv", f"date={DAY}", False, 200, "csv"),
    ("GET", "/api/reporting/breakdown", f"site=BWI&date={DAY}", False, 200, "morning"),
    ("GET", "/api/reporting/breakdown", "date=2026-11-24", False, 200, "empty"),
    ("GET", "/api/reporting/breakdown", "site=bwi", False, 400, None),
    ("GET", "/api/reporting/ikm", "from=2026-11-01&to=2026-11-30", False, 200, "november"),
    ("GET", "/api/reporting/ikm", "site=BWI&from=2026-12-01&to=2026-12-31", False, 200, "none"),
    ("GET", "/api/reporting/ikm", "from=2026-11-30&to=2026-11-01", False, 400, None),
    ("GET", "/api/reporting/ikm", "to=2026-11-30", False, 400, None),
    ("GET", "/api/reporting/ikm.csv", "from=2026-11-01&to=2026-11-30", False, 200, "csv"),
    ("GET", "/metrics", "", False, 200, "metrics"),
    ("POST", "/api/reporting/replay", "", False, 401, None),
    ("POST", "/api/reporting/replay", "", True, 200, "replay"),
    ("GET", "/api/reporting/dead-letters", "limit=20", True, 200, None),
    ("GET", "/api/reporting/dead-letters", "limit=0", True, 400, None),
    ("GET", "/api/reporting/dead-letters", "", False, 401, None),
    ("POST", "/api/reporting/dead-letters/replay", "limit=50", True, 200, None),
]


def answer(service, method, path, query="", admin=False):
    """``(status, content type, body)`` of the handler of ``method path``."""
    headers = {"Authorization": f"Bearer {ADMIN}"} if admin else {}
    request = Request(EnvironBuilder(path=path, method=method, query_string=query,
                                     headers=headers).get_environ())
    handler = getattr(service, http_handlers(ReportingService)[(method, path)])
    with patch("services.reporting.service.utcnow", return_value=local("10:00")), \
            patch("services.reporting.service.peek_dead_letters", return_value=[DEAD_LETTER]), \
            patch("services.reporting.service.replay_dead_letters", return_value=1):
        result = handler(request)
    if not isinstance(result, Response):
        return 200, "application/json", result
    text = result.get_data(as_text=True)
    content = json.loads(text) if result.mimetype == "application/json" else text
    return result.status_code, result.headers["Content-Type"], content


def properties_of(spec, schema):
    """Every property an object schema names, through ``allOf``."""
    schema = deref(spec, schema)
    found = dict(schema.get("properties", {}))
    for part in schema.get("allOf", ()):
        found.update(properties_of(spec, part))
    return found


def check_exact(spec, schema, value, where, subset=False):
    """``value`` names exactly the documented properties, at every depth (with
    ``subset``: no undocumented one; optional ones may be absent)."""
    schema, _ = split_null(spec, schema)
    if isinstance(value, dict):
        documented = properties_of(spec, schema)
        if documented:
            extra = set(value) - set(documented) if subset else set(value) ^ set(documented)
            assert not extra, f"{where}: {sorted(extra)}"
            for key, item in value.items():
                check_exact(spec, documented[key], item, f"{where}.{key}", subset)
        elif isinstance(schema.get("additionalProperties"), dict):
            for key, item in value.items():
                check_exact(spec, schema["additionalProperties"], item, f"{where}.{key}", subset)
    elif isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            check_exact(spec, schema["items"], item, f"{where}[{i}]", subset)


def check_valid(spec, schema, value, where):
    validator = OAS31Validator({**schema, "components": spec["components"]},
                               format_checker=oas31_format_checker)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in validator.iter_errors(value)]
    assert not errors, f"{where}: {errors}"


def flat(text):
    return " ".join(text.split())


def documented_columns(description):
    """The backquoted names after ``Columns`` in a description."""
    return re.findall(r"`([a-z0-9_]+)`", flat(description).split("Columns", 1)[1].split(".")[0])


def test_reporting_calls_cover_every_route():
    assert {(method, path) for method, path, *_ in REPORTING_CALLS} == \
        documented_routes(load("reporting"))


@pytest.mark.parametrize("method, path, query, admin, status, example", REPORTING_CALLS)
def test_reporting_answers_are_the_documented_ones(reporting, method, path, query, admin, status,
                                                   example):
    spec = load("reporting")
    where = f"{method} {path}?{query}"
    got_status, content_type, body = answer(reporting, method, path, query, admin)
    assert got_status == status, f"{where}: {body}"
    response = deref(spec, operation(spec, method, path)["responses"][str(status)])
    media = {key: value for key, value in response["content"].items()
             if content_type == key or content_type.split(";")[0] == key}
    assert len(media) == 1, f"{where}: {content_type} is not documented"
    (key, content), = media.items()
    if key == "application/json":
        check_valid(spec, content["schema"], body, where)
        check_exact(spec, content["schema"], body, where)
    if key == "text/csv":
        header = next(csv.reader(io.StringIO(body)))
        assert header == documented_columns(response["description"]), where
    if example:
        documented = deref(spec, content["examples"][example])["value"] if "examples" in content \
            else content["example"]
        if isinstance(body, str):
            body, documented = body.replace("\r\n", "\n"), documented.replace("\r\n", "\n")
        assert body == documented, f"{where}: the example {example!r} is not what is answered"


def test_reporting_csv_columns_are_the_code_s():
    spec = load("reporting")
    daily = operation(spec, "GET", "/api/reporting/daily.csv")["responses"]["200"]
    assert documented_columns(daily["description"]) == list(reporting_domain.DAILY_CSV_COLUMNS)
    ikm_csv = operation(spec, "GET", "/api/reporting/ikm.csv")["responses"]["200"]
    assert documented_columns(ikm_csv["description"]) == list(ikm.CSV_COLUMNS)


def test_reporting_metrics_are_described(reporting):
    spec = load("reporting")
    description = flat(operation(spec, "GET", "/metrics")["description"])
    _, _, text = answer(reporting, "GET", "/metrics")
    for name, kind in re.findall(r"^# TYPE (\w+) (\w+)$", text, re.MULTILINE):
        assert f"`{name}` ({kind}" in description, name
    for labels in re.findall(r"\{([^}]*)\}", text):
        for label in re.findall(r"(\w+)=", labels):
            assert f"`{label}`" in description, label


def test_reporting_day_closed_event_is_documented(reporting):
    spec = load("reporting")
    with patch("services.reporting.service.utcnow", return_value=local("01:00", "2026-11-24")):
        reporting.close_days()
    (closure,) = reporting.outbox.relayed
    (entry,) = closure["outbox"]
    envelope = json.loads(json.dumps(entry["envelope"]))
    description = flat(spec["info"]["description"])
    for words in (f"`{envelope['type']}`", f"`{entry['routing_key']}`", "`reports/<site>/<date>`"):
        assert words in description, words
    schema = {"$ref": "#/components/schemas/DayClosedData"}
    check_valid(spec, schema, envelope["data"], "report.day_closed")
    check_exact(spec, schema, envelope["data"], "report.day_closed")
    _, _, report = answer(reporting, "GET", "/api/reporting/daily", f"date={DAY}")
    assert report["closed"] is True


# -- notify: what the service answers after a scripted morning -------------------------------

AUTH_SECRET = "rahasia-penandatangan-token-uji"
AGENCY_SECRET = "Rahasia-Webhook-Disdukcapil-2026"
HUB = "https://dashboard.diskominfo.banyuwangikab.go.id/hooks/antre"  # answers 503
SIAK = "https://siak.banyuwangikab.go.id/antre/webhook"  # answers 200
NOTIFY_CONFIG = {"ADMIN_TOKEN": ADMIN, "AUTH_SECRET": AUTH_SECRET, "WEBHOOK_MAX_ATTEMPTS": "2",
                 "WEBHOOK_RETRY_SECONDS": "1", "PUBLIC_BASE_URL": "https://antre.banyuwangikab.go.id"}


class NotifyCatalogCache:
    """The catalog as notify's cache answers it: Banyuwangi's names."""

    def get(self, key, load):
        kind, code = key
        if kind == "site":
            return {"name": "Mal Pelayanan Publik Kabupaten Banyuwangi", "timezone": "Asia/Jakarta"}
        if kind == "counter":
            return {"name": f"Loket {int(code[-2:])}"}
        return {"name": NAMES[("agencies" if kind == "agency" else "services", code)]}


def agency_admin_token(agency="DISDUKCAPIL"):
    return auth.issue_token(AUTH_SECRET, f"admin.{agency.lower()}", "agency_admin", 3600,
                            agency=agency)


def notify_call(service, method, path, query="", who=None, body=None, headers=None):
    """``(status, headers, body)`` of ``method path``, the body parsed when JSON, the
    Response itself when a stream; ``who``: None, "admin" or a bearer token."""
    headers = dict(headers or {})
    if who:
        headers["Authorization"] = f"Bearer {ADMIN if who == 'admin' else who}"
    options = {"data": body} if isinstance(body, str) else {"json": body} if body else {}
    request = Request(EnvironBuilder(path=path, method=method, query_string=query,
                                     headers=headers, **options).get_environ())
    attribute, values = url_map(NotifyService).bind("localhost").match(path, method=method)
    with patch("services.notify.service.utcnow", return_value=local("10:00")):
        result = getattr(service, attribute)(request, **values)
    if isinstance(result, tuple):
        result = json_response(result[1], status=result[0])
    elif not isinstance(result, Response):
        result = json_response(result)
    if result.mimetype == "text/event-stream":
        return result.status_code, result.headers, result
    text = result.get_data(as_text=True)
    content = json.loads(text) if result.mimetype == "application/json" else text
    return result.status_code, result.headers, content


def read_stream(response, chunks=100):
    """What the stream sends until its first keep-alive (sleeping and waiting skipped)."""
    quick = SimpleNamespace(sleep=lambda seconds: None)
    with patch.object(notify_module, "eventlet", quick), \
            patch.object(notify_module, "KEEP_ALIVE_SECONDS", 0):
        sent = []
        for chunk in itertools.islice(response.response, chunks):
            sent.append(chunk)
            if chunk.startswith(":"):
                break
    return "".join(sent)


def sse_events(text):
    """``[(field -> value)]`` of the events in a stream, comments and ``retry`` apart."""
    events = []
    for block in text.split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        if lines and not lines[0].startswith("retry:"):
            events.append(dict(line.split(": ", 1) for line in lines))
    return events


@pytest.fixture
def notify():
    """The notify worker over mongomock after a scripted morning at MPP Banyuwangi: two
    webhooks (Disdukcapil's ticket events; every event, failing until dead), a citizen
    who gave a phone number, calls of two agencies, recalls, a no-show, a completion and
    a survey; messages sent and deliveries attempted."""
    repository = NotifyRepository(mongomock.MongoClient(tz_aware=True).notify)
    repository.ensure_indexes()
    secrets = SimpleNamespace(vault=Vault(Fernet.generate_key()), provider=LogProvider())
    service = worker_factory(
        NotifyService, repository=repository, secrets=secrets, catalog_rpc=None,
        queue_rpc=SimpleNamespace(get_ticket=lambda ticket_id: {"position": 2}),
        catalog_cache=NotifyCatalogCache(), config=NOTIFY_CONFIG)
    _, _, siak = notify_call(service, "POST", "/api/notify/webhooks", who="admin", body={
        "agency": "DISDUKCAPIL", "url": SIAK, "secret": AGENCY_SECRET,
        "event_types": ["antre.ticket.*"]})
    _, _, hub = notify_call(service, "POST", "/api/notify/webhooks", who="admin",
                            body={"agency": "*", "url": HUB})
    da004, events = story("DA-004", "08:40", ("call", "09:12", {"counter": "BWI-L01"}),
                          ("recall", "09:14"), ("recall", "09:16"), ("no_show", "09:20"))
    da001, more = story("DA-001", "08:02", ("call", "08:10", {"counter": "BWI-L02"}),
                        ("start", "08:11"), ("complete", "08:19"))
    _, passport = story("YB-001", "08:30", ("call", "08:45", {"counter": "BWI-L26"}))
    survey = queue_domain.feedback_event(da001, dict.fromkeys(ikm.ELEMENTS, 4), False,
                                         local("08:21")).envelope("/antre/queue")
    view = {**json.loads(json.dumps(da004, default=str)), "ticket_id": da004["_id"], "position": 3}
    with patch("services.notify.service.utcnow", return_value=local("08:40")):
        service.subscribe(view, "0812-3456-7890", "id", "FkC4uZXloteA9kYUD3ReJg65")
    posts = []

    def post(url, body, headers):
        posts.append((url, body, headers))
        return 200 if url == SIAK else 503

    for minute, event in enumerate([*more, survey, *passport, *events]):
        with patch("services.notify.service.utcnow", return_value=local("09:30") + timedelta(
                minutes=minute)), patch("services.notify.service.http_post", post):
            service.on_event(json.loads(json.dumps(event)))
            service.send_messages()
            service.deliver_webhooks()
    with patch("services.notify.service.utcnow", return_value=local("09:50")), \
            patch("services.notify.service.http_post", post):
        service.deliver_webhooks()  # the last retries: the hub's deliveries die
    return SimpleNamespace(service=service, siak=siak, hub=hub, posts=posts,
                           dead=f"{hub['webhook_id']}:{events[0]['id']}",
                           sent=f"{siak['webhook_id']}:{events[0]['id']}")


# (method, path, query, who, body, expected status); {siak}, {hub}, {dead}, {sent} are ids.
NOTIFY_CALLS = [
    ("GET", "/health", "", None, None, 200),
    ("GET", "/display/BWI", "lang=en", None, None, 200),
    ("GET", "/display/BWI", "lang=jv&theme=dark", None, None, 400),
    ("GET", "/display/assets/display.js", "", None, None, 200),
    ("GET", "/display/assets/display.css", "", None, None, 200),
    ("GET", "/display/assets/logo.png", "", None, None, 404),
    ("GET", "/api/notify/display/BWI/stream", "after=0", None, None, 200),
    ("GET", "/api/notify/display/BWI/stream", "after=-1&since=3", None, None, 400),
    ("GET", "/api/notify/display/BWI/recent", "limit=3", None, None, 200),
    ("GET", "/api/notify/display/XYZ/recent", "", None, None, 200),
    ("GET", "/api/notify/display/BWI/recent", "limit=0", None, None, 400),
    ("POST", "/api/notify/webhooks", "", "admin",
     {"agency": "IMIGRASI", "url": "https://simkim.imigrasi.go.id/antre"}, 201),
    ("POST", "/api/notify/webhooks", "", "agency_admin",
     {"agency": "DISDUKCAPIL", "url": SIAK, "secret": AGENCY_SECRET}, 201),
    ("POST", "/api/notify/webhooks", "", "agency_admin", {"agency": "*", "url": HUB}, 403),
    ("POST", "/api/notify/webhooks", "", "admin",
     {"agency": "disdukcapil", "url": SIAK, "secret": "pendek", "event_types": ["X"], "x": 1},
     400),
    ("POST", "/api/notify/webhooks", "", "admin", "[]", 400),
    ("POST", "/api/notify/webhooks", "", None, {"agency": "*", "url": HUB}, 401),
    ("GET", "/api/notify/webhooks", "", "admin", None, 200),
    ("GET", "/api/notify/webhooks", "agency=IMIGRASI", "agency_admin", None, 200),
    ("GET", "/api/notify/webhooks", "agency=*", "admin", None, 400),
    ("GET", "/api/notify/webhooks", "", "operator", None, 403),
    ("POST", "/api/notify/webhooks/{hub}/deactivate", "", "admin", None, 200),
    ("POST", "/api/notify/webhooks/{hub}/activate", "", "admin", None, 200),
    ("POST", "/api/notify/webhooks/{hub}/activate", "", "agency_admin", None, 403),
    ("POST", "/api/notify/webhooks/0000/deactivate", "", "admin", None, 404),
    ("GET", "/api/notify/webhooks/{hub}/deliveries", "status=dead&limit=20", "admin", None, 200),
    ("GET", "/api/notify/webhooks/{siak}/deliveries", "", "agency_admin", None, 200),
    ("GET", "/api/notify/webhooks/{siak}/deliveries", "status=failed", "admin", None, 400),
    ("GET", "/api/notify/webhooks/{hub}/deliveries", "", "agency_admin", None, 403),
    ("GET", "/api/notify/webhooks/0000/deliveries", "", "admin", None, 404),
    ("POST", "/api/notify/deliveries/{dead}/redeliver", "", "admin", None, 200),
    ("POST", "/api/notify/deliveries/{sent}/redeliver", "", "admin", None, 404),
    ("POST", "/api/notify/deliveries/{dead}/redeliver", "", "agency_admin", None, 403),
    ("GET", "/api/notify/tickets/t-DA-004/messages", "", "admin", None, 200),
    ("GET", "/api/notify/tickets/t-DA-001/messages", "", "admin", None, 200),
    ("GET", "/api/notify/tickets/t-DA-004/messages", "", None, None, 401),
    ("GET", "/api/notify/tickets/t-DA-004/messages", "", "agency_admin", None, 403),
    ("GET", "/api/notify/audit", "", "admin", None, 200),
    ("GET", "/api/notify/audit", "", "expired", None, 401),
]


def notify_route(path):
    """The documented path of a concrete one."""
    for documented in load("notify")["paths"]:
        pattern = "".join("[^/]+" if part.startswith("{") else re.escape(part)
                          for part in re.split(r"(\{\w+\})", documented))
        if re.fullmatch(pattern, path):
            return documented
    raise AssertionError(f"{path} is not documented")


def test_notify_calls_cover_every_route():
    assert {(method, notify_route(path)) for method, path, *_ in NOTIFY_CALLS} == \
        documented_routes(load("notify"))


@pytest.mark.parametrize("method, path, query, who, body, status", NOTIFY_CALLS)
def test_notify_answers_are_the_documented_ones(notify, method, path, query, who, body, status):
    spec = load("notify")
    ids = {"siak": notify.siak["webhook_id"], "hub": notify.hub["webhook_id"],
           "dead": notify.dead, "sent": notify.sent}
    path = path.format(**ids)
    credential = {"agency_admin": agency_admin_token(),
                  "operator": auth.issue_token(AUTH_SECRET, "budi", "operator", 3600,
                                               agency="DISDUKCAPIL", counters=["BWI-L01"]),
                  "expired": auth.issue_token(AUTH_SECRET, "budi", "admin", 60, now=1)}
    where = f"{method} {path}?{query}"
    got, headers, answer = notify_call(notify.service, method, path, query,
                                       credential.get(who, who), body)
    assert got == status, f"{where}: {answer}"
    documented = operation(spec, method, notify_route(path))
    response = deref(spec, documented["responses"][str(status)])
    media = {key: value for key, value in response["content"].items()
             if headers["Content-Type"].split(";")[0] == key}
    assert len(media) == 1, f"{where}: {headers['Content-Type']} is not documented"
    (key, content), = media.items()
    if key == "application/json":
        check_valid(spec, content["schema"], answer, where)
        check_exact(spec, content["schema"], answer, where, subset=True)
    for name, header in response.get("headers", {}).items():
        assert headers.get(name) == header["example"], f"{where}: {name}"
    if key == "text/html":
        assert 'data-site="BWI" data-lang="en"' in answer, where


def test_notify_stream_is_the_documented_wire_format(notify):
    spec = load("notify")
    announcement = {"$ref": "#/components/schemas/Announcement"}
    path = "/api/notify/display/BWI/stream"
    _, headers, stream = notify_call(notify.service, "GET", path, "after=0")
    assert headers["Content-Type"] == "text/event-stream; charset=utf-8"
    text = read_stream(stream)
    assert text.startswith("retry: 3000\n\n") and text.endswith(": keep-alive\n\n")
    events = sse_events(text)
    assert [(e["event"], e["id"]) for e in events] == [("announcement", str(n)) for n in range(1, 6)]
    for event in events:
        data = json.loads(event["data"])
        check_valid(spec, announcement, data, "stream")
        check_exact(spec, announcement, data, "stream")
        assert data["seq"] == int(event["id"])
    kinds = [json.loads(e["data"])["kind"] for e in events]
    assert kinds == ["call", "call", "call", "recall", "recall"]  # recalls are announced again
    assert json.loads(events[0]["data"])["text"]["id"] == \
        "Nomor antrean D A nol nol satu, silakan menuju loket dua."
    # Resuming: Last-Event-ID wins over ?after; without either, from now; beyond the
    # newest, the numbering restarted: from now too.
    for query, headers, expected in [("after=2", {}, ["3", "4", "5"]),
                                     ("after=0", {"Last-Event-ID": "3"}, ["4", "5"]),
                                     ("", {}, []), ("", {"Last-Event-ID": "99"}, []),
                                     ("after=99", {}, [])]:
        _, _, stream = notify_call(notify.service, "GET", path, query, headers=headers)
        assert [e["id"] for e in sse_events(read_stream(stream))] == expected, (query, headers)
    described = flat(operation(spec, "GET", notify_route(path))["description"])
    for words in ("`retry: 3000`", "`id:`", "`event:`", "`announcement`", "`data:`",
                  "`: keep-alive`", "`Last-Event-ID`", "`?after=<seq>`"):
        assert words in described, words


def test_notify_webhook_posts_are_the_documented_contract(notify):
    spec = load("notify")
    received = spec["webhooks"]["antreEvent"]["post"]
    headers = {p["name"]: p for p in received["parameters"] if p["in"] == "header"}
    (media, content), = received["requestBody"]["content"].items()
    secrets = {SIAK: AGENCY_SECRET, HUB: notify.hub["secret"]}
    urls = {url for url, _, _ in notify.posts}
    assert urls == {SIAK, HUB}
    for url, body, sent in notify.posts:
        event = json.loads(body)
        assert sent["Content-Type"] == media == "application/cloudevents+json"
        assert set(sent) - {"Content-Type"} == set(headers), sent
        for name, parameter in headers.items():
            assert re.fullmatch(parameter["schema"].get("pattern", ".+"), sent[name]), name
        check_valid(spec, content["schema"], event, event["type"])
        check_exact(spec, content["schema"], event, event["type"])
        webhook = notify.siak if url == SIAK else notify.hub
        assert sent["X-Antre-Delivery"] == f"{webhook['webhook_id']}:{event['id']}"
        mac = hmac.new(secrets[url].encode(), sent["X-Antre-Timestamp"].encode() + b"." + body,
                       hashlib.sha256)
        assert hmac.compare_digest(sent["X-Antre-Signature"], "sha256=" + mac.hexdigest())
    # the agency's webhook asked for its agency's ticket events; the hub for every event
    delivered = {url: {(json.loads(body)["agency"], json.loads(body)["type"].split(".")[1])
                       for u, body, _ in notify.posts if u == url} for url in (SIAK, HUB)}
    assert delivered[SIAK] == {("DISDUKCAPIL", "ticket")}
    assert delivered[HUB] == {("DISDUKCAPIL", "ticket"), ("DISDUKCAPIL", "feedback"),
                              ("IMIGRASI", "ticket")}


def test_notify_webhook_example_is_signed_as_documented():
    received = load("notify")["webhooks"]["antreEvent"]["post"]
    secret = re.search(r"signed with the secret `([^`]+)`", flat(received["description"])).group(1)
    example = received["requestBody"]["content"]["application/cloudevents+json"]["examples"]
    body = json.dumps(example["called"]["value"], separators=(",", ":")).encode()
    headers = {p["name"]: p["example"] for p in received["parameters"]}
    mac = hmac.new(secret.encode(), headers["X-Antre-Timestamp"].encode() + b"." + body,
                   hashlib.sha256)
    assert headers["X-Antre-Signature"] == "sha256=" + mac.hexdigest()
    event_id = example["called"]["value"]["id"]
    assert headers["X-Antre-Delivery"].endswith(f":{event_id}")
