"""The OpenAPI documents in ``docs/openapi/`` describe the HTTP APIs as implemented.

* each document is valid OpenAPI 3.1;
* the routes documented are exactly the nameko HTTP entrypoints of the service (and
  werkzeug routes each of them);
* request bodies and query parameters mirror the marshmallow schemas that load them
  (fields, required, defaults, enums, ranges, lengths, patterns, unknown fields);
* every JSON example is valid against the schema it illustrates;
* security: every document declares the same schemes (one per kind of credential);
  each operation's `security` names exactly the credentials the code lets through (a
  token of every role, the ``ADMIN_TOKEN``, an API key, none, an expired one), its 401
  and 403 are documented, and every documented refusal message is one of the code's;
* catalog: what the service answers about accounts, devices, API keys, logins and its
  audit log (every route, errors too) is valid against the documented response; the
  tokens and keys it issues are the documented ones; no password is ever answered, and
  no password, token or key is stored or audit-logged in clear;
* reporting: what the service answers for a scripted day (every route, errors too) is
  valid against the documented response, names exactly the documented fields, and is
  the documented example; the CSV columns and metric names are the documented ones;
* notify: what the service answers after a scripted morning (every route, errors too)
  is valid against the documented response and names no undocumented field; the stream
  is the documented Server-Sent Events wire format and resumes as documented; the
  webhook POSTs an agency receives are the documented CloudEvent, headers and signature.
"""

import ast
import copy
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
from werkzeug.exceptions import NotFound
from werkzeug.routing import Map, Rule
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from antre_devtools.fakes import FakeCatalog
from services.catalog import commands
from services.catalog import schemas as cs
from services.catalog.domain import KINDS
from services.catalog.repository import CatalogRepository
from services.catalog.service import CatalogService
from services.kernel import passwords, tokens
from services.kernel.infra.http import json_response
from services.kernel.validation import Pattern
from services.notify import dependencies as notify_dependencies
from services.notify import schemas as ns
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


@functools.cache
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
        ("POST", "/api/catalog/auth/login"): (cs.LoginSchema(), False),
        ("POST", "/api/catalog/accounts"): (cs.AccountSchema(), False),
        ("POST", "/api/catalog/devices"): (cs.DeviceSchema(), False),
        ("POST", "/api/catalog/api-keys"): (cs.ApiKeySchema(), False),
    },
    "queue": {
        ("POST", "/api/queue/tickets"): (qs.IssueTicketSchema(), False),
        ("POST", "/api/queue/tickets/{ticket_id}/cancel"): (qs.CancelSchema(), False),
        ("POST", "/api/queue/tickets/{ticket_id}/feedback"): (qs.FeedbackSchema(), False),
        ("POST", "/api/queue/tickets/{ticket_id}/transfer"): (qs.TransferSchema(), False),
        ("POST", "/api/queue/counters/{counter}/pause"): (qs.PauseSchema(), False),
        ("POST", "/api/queue/qr"): (qs.QrSchema(), False),
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
        ("GET", "/api/queue/counters/{counter}/waiting"): qs.CounterWaitingQuerySchema(),
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
        ("GET", "/metrics"): rs.MetricsQuerySchema(),
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
    if isinstance(validator, Pattern):
        return {"pattern": validator.json_pattern}
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


# JSON bodies no marshmallow schema loads as a whole: the catalog document (checked by
# test_catalog_document_is_the_entities_as_created) and bodies that are ignored.
UNCHECKED_BODIES = {
    ("catalog", "POST", "/api/catalog/import"),
    ("queue", "POST", "/api/queue/counters/{counter}/open"),
    ("queue", "POST", "/api/queue/counters/{counter}/close"),
}


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_documented_body_is_checked_against_its_schema(name):
    spec = load(name)
    for method, path in documented_routes(spec):
        op = operation(spec, method, path)
        if "application/json" in deref(spec, op.get("requestBody", {})).get("content", {}):
            assert (method, path) in BODIES[name] or (name, method, path) in UNCHECKED_BODIES, \
                f"{method} {path}"


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


# -- credentials -----------------------------------------------------------------------------

ADMIN = "rahasia-admin"
AUTH_SECRET = "rahasia-penandatangan-token-uji"
VIEWER_KEY = "ak_0123456789ab_" + "k" * 32  # the catalog knows it (fakes below)
VIEWER = {"subject": "api_key:0123456789ab", "role": "report_viewer", "agency": None}


def token(role, **claims):
    return tokens.issue_token(AUTH_SECRET, f"account:{role}", role, 3600, **claims)


def credential(who):
    """The bearer credential of ``who``: a role's name, "admin" (the ``ADMIN_TOKEN``),
    "viewer" (an API key), "expired", "bad_key", None (none) or a credential itself."""
    known = {
        "admin": lambda: ADMIN,
        "admin_account": lambda: token("admin"),
        "agency_admin": lambda: token("agency_admin", agency="DISDUKCAPIL"),
        "imigrasi_admin": lambda: token("agency_admin", agency="IMIGRASI"),
        "operator": lambda: token("operator", agency="DISDUKCAPIL", counters=["BWI-L01"]),
        "kiosk": lambda: token("kiosk", site="BWI"),
        "display": lambda: token("display", site="BWI"),
        "viewer": lambda: VIEWER_KEY,
        "bad_key": lambda: "ak_0123456789ab_" + "x" * 32,
        "expired": lambda: tokens.issue_token(AUTH_SECRET, "account:budi", "admin", 60, now=1),
    }
    return known[who]() if who in known else who


def route_of(name, path):
    """The documented path of a concrete one."""
    for documented in load(name)["paths"]:
        pattern = "".join("[^/]+" if part.startswith("{") else re.escape(part)
                          for part in re.split(r"(\{\w+\})", documented))
        if re.fullmatch(pattern, path):
            return documented
    raise AssertionError(f"{path} is not documented")


def http_call(service_class, service, method, path, query="", who=None, body=None,
              headers=None):
    """``(status, headers, body)`` of the handler nameko routes ``method path`` to, the
    body parsed when JSON; the result itself when the handler answers no Response."""
    headers = dict(headers or {})
    if who:
        headers["Authorization"] = f"Bearer {credential(who)}"
    options = {"data": body} if isinstance(body, str) else {"json": body} if body else {}
    request = Request(EnvironBuilder(path=path, method=method, query_string=query,
                                     headers=headers, **options).get_environ())
    attribute, values = url_map(service_class).bind("localhost").match(path, method=method)
    result = getattr(service, attribute)(request, **values)
    if isinstance(result, tuple):
        result = json_response(result[1], status=result[0])
    elif isinstance(result, dict | list):
        result = json_response(result)
    if not isinstance(result, Response):
        return None, {}, result
    if result.mimetype == "text/event-stream":
        return result.status_code, result.headers, result
    text = result.get_data(as_text=True)
    content = json.loads(text) if result.mimetype == "application/json" else text
    return result.status_code, result.headers, content


# -- catalog: people, devices and keys ---------------------------------------------------------

PASSWORD = "kata-sandi-rahasia"
SEED_ACCOUNTS = [
    {"username": "rina.disdukcapil", "role": "agency_admin", "agency": "DISDUKCAPIL",
     "name": "Rina Wulandari"},
    {"username": "siti.duk", "role": "operator", "agency": "DISDUKCAPIL",
     "counters": ["BWI-L01", "BWI-L02"], "name": "Siti Rahmawati"},
    {"username": "andi.imigrasi", "role": "operator", "agency": "IMIGRASI",
     "counters": ["BWI-L26"]},
]
PEOPLE_TAGS = {"accounts", "devices and keys", "audit"}
PEOPLE_AGENCIES = ("DISDUKCAPIL", "IMIGRASI")


@functools.cache
def sample_catalog():
    """The documents of the sample catalog (Banyuwangi) of Disdukcapil and Imigrasi,
    loaded once."""
    repository = CatalogRepository(mongomock.MongoClient(tz_aware=True).catalog)
    commands.load_sample(repository)
    return {kind: [doc for doc in repository.db[kind].find()
                   if kind == "sites" or doc.get("agency", doc["_id"]) in PEOPLE_AGENCIES]
            for kind in KINDS}



def catalog_worker(config):
    db = mongomock.MongoClient(tz_aware=True).catalog
    for kind, documents in sample_catalog().items():
        db[kind].insert_many(copy.deepcopy(documents))
    return worker_factory(CatalogService, repository=CatalogRepository(db), outbox=FakeOutbox(),
                          config=config)


@pytest.fixture
def quick_hashes(monkeypatch):
    """scrypt with a small cost (each hash names its parameters, so checks still hold)."""
    monkeypatch.setitem(passwords.SCRYPT, "n", 2 ** 4)


@pytest.fixture
def catalog(quick_hashes):
    """The catalog's worker over mongomock with the sample catalog, Disdukcapil's agency
    admin and two operators (Disdukcapil's and Imigrasi's), created by the admin."""
    service = catalog_worker({"ADMIN_TOKEN": ADMIN, "AUTH_SECRET": AUTH_SECRET})
    for account in SEED_ACCOUNTS:
        status, _, body = http_call(CatalogService, service, "POST", "/api/catalog/accounts",
                                    who="admin", body={**account, "password": PASSWORD})
        assert status == 201, body
    return service


def new_account(username, role="operator", agency="DISDUKCAPIL", counters=("BWI-L03",)):
    return {"username": username, "password": PASSWORD, "role": role, "agency": agency,
            "counters": list(counters), "name": "Dewi Lestari"}


KIOSK = {"kind": "kiosk", "site": "BWI", "name": "Anjungan lobi utara"}
# (method, path, who, body, expected status); who as in credential()
CATALOG_CALLS = [
    ("POST", "/api/catalog/auth/login", None, {"username": "siti.duk", "password": PASSWORD}, 200),
    ("POST", "/api/catalog/auth/login", None, {"username": "siti.duk", "password": "bukan-ini"},
     401),
    ("POST", "/api/catalog/auth/login", None, {"username": "nobody", "password": PASSWORD}, 401),
    ("POST", "/api/catalog/auth/login", None, {"username": "", "extra": 1}, 400),
    ("POST", "/api/catalog/accounts", "admin", new_account("dewi.duk"), 201),
    ("POST", "/api/catalog/accounts", "admin_account",
     new_account("budi.admin", role="admin", agency=None, counters=()), 201),
    ("POST", "/api/catalog/accounts", "agency_admin", new_account("dewi.duk"), 201),
    ("POST", "/api/catalog/accounts", "agency_admin",
     new_account("yuni.imigrasi", agency="IMIGRASI", counters=["BWI-L27"]), 403),
    ("POST", "/api/catalog/accounts", "agency_admin",
     new_account("boss.duk", role="agency_admin", counters=()), 403),
    ("POST", "/api/catalog/accounts", "operator", new_account("dewi.duk"), 403),
    ("POST", "/api/catalog/accounts", "kiosk", new_account("dewi.duk"), 403),
    ("POST", "/api/catalog/accounts", None, new_account("dewi.duk"), 401),
    ("POST", "/api/catalog/accounts", "admin",
     {"username": "X", "password": "pendek", "role": "kiosk", "extra": 1}, 400),
    ("POST", "/api/catalog/accounts", "admin", new_account("dewi.duk", counters=()), 400),
    ("POST", "/api/catalog/accounts", "admin",
     new_account("dewi.duk", counters=["BWI-L03", "BWI-L26"]), 400),
    ("POST", "/api/catalog/accounts", "admin", new_account("dewi.duk", agency="NOPE"), 404),
    ("POST", "/api/catalog/accounts", "admin", new_account("siti.duk"), 409),
    ("POST", "/api/catalog/accounts", "admin", "[]", 400),
    ("GET", "/api/catalog/accounts", "admin", None, 200),
    ("GET", "/api/catalog/accounts", "agency_admin", None, 200),
    ("GET", "/api/catalog/accounts", "kiosk", None, 403),
    ("GET", "/api/catalog/accounts", "expired", None, 401),
    ("POST", "/api/catalog/accounts/siti.duk/deactivate", "agency_admin", None, 200),
    ("POST", "/api/catalog/accounts/andi.imigrasi/deactivate", "agency_admin", None, 403),
    ("POST", "/api/catalog/accounts/rina.disdukcapil/deactivate", "agency_admin", None, 403),
    ("POST", "/api/catalog/accounts/nobody/deactivate", "admin", None, 404),
    ("POST", "/api/catalog/accounts/andi.imigrasi/activate", "admin", None, 200),
    ("POST", "/api/catalog/accounts/siti.duk/activate", "operator", None, 403),
    ("POST", "/api/catalog/accounts/siti.duk/activate", None, None, 401),
    ("POST", "/api/catalog/devices", "admin", KIOSK, 201),
    ("POST", "/api/catalog/devices", "admin_account", {**KIOSK, "kind": "display"}, 201),
    ("POST", "/api/catalog/devices", "admin", {"kind": "printer", "site": "bwi", "name": ""}, 400),
    ("POST", "/api/catalog/devices", "admin", {**KIOSK, "site": "XYZ"}, 404),
    ("POST", "/api/catalog/devices", "agency_admin", KIOSK, 403),
    ("POST", "/api/catalog/devices", None, KIOSK, 401),
    ("POST", "/api/catalog/api-keys", "admin", {"name": "Grafana Diskominfo"}, 201),
    ("POST", "/api/catalog/api-keys", "admin", {"name": "Grafana", "agency": "DISDUKCAPIL"}, 201),
    ("POST", "/api/catalog/api-keys", "admin", {"name": "", "agency": "x", "role": "admin"}, 400),
    ("POST", "/api/catalog/api-keys", "agency_admin", {"name": "Grafana"}, 403),
    ("POST", "/api/catalog/api-keys", "viewer", {"name": "Grafana"}, 401),
    ("GET", "/api/catalog/devices", "admin", None, 200),
    ("GET", "/api/catalog/devices", "agency_admin", None, 403),
    ("POST", "/api/catalog/devices/000000000000/revoke", "admin", None, 404),
    ("POST", "/api/catalog/devices/000000000000/revoke", "agency_admin", None, 403),
    ("POST", "/api/catalog/devices/000000000000/revoke", None, None, 401),
    ("GET", "/api/catalog/api-keys", "admin", None, 200),
    ("GET", "/api/catalog/api-keys", "viewer", None, 401),
    ("POST", "/api/catalog/api-keys/000000000000/revoke", "admin", None, 404),
    ("POST", "/api/catalog/api-keys/000000000000/revoke", "operator", None, 403),
    ("GET", "/api/catalog/audit", "admin", None, 200),
    ("GET", "/api/catalog/audit", "agency_admin", None, 403),
    ("GET", "/api/catalog/audit", None, None, 401),
]


def test_revoking_a_device_and_a_key_answers_the_documented_records(catalog):
    spec = load("catalog")
    for create, revoke, body in (("/api/catalog/devices", "/api/catalog/devices/{}/revoke",
                                  KIOSK),
                                 ("/api/catalog/api-keys", "/api/catalog/api-keys/{}/revoke",
                                  {"name": "Grafana"})):
        _, _, made = http_call(CatalogService, catalog, "POST", create, who="admin", body=body)
        code = made.get("device_id") or made.get("key_id")
        for method, path in (("POST", revoke.format(code)), ("GET", create)):
            status, headers, answer = http_call(CatalogService, catalog, method, path,
                                                who="admin")
            assert status == 200, answer
            check_answer(spec, method, route_of("catalog", path), status, headers, answer,
                         f"{method} {path}")
            assert "token" not in json.dumps(answer) and "hash" not in json.dumps(answer)


def check_answer(spec, method, route, status, headers, answer, where):
    """``answer`` is valid against the documented response of ``status``: exactly the
    documented fields when a success, no undocumented one when an error."""
    response = deref(spec, operation(spec, method, route)["responses"][str(status)])
    media = {key: value for key, value in response["content"].items()
             if headers["Content-Type"].split(";")[0] == key}
    assert len(media) == 1, f"{where}: {headers['Content-Type']} is not documented"
    (key, content), = media.items()
    if key == "application/json":
        check_valid(spec, content["schema"], answer, where)
        check_exact(spec, content["schema"], answer, where, subset=status >= 400)


def test_catalog_calls_cover_the_people_devices_and_keys():
    spec = load("catalog")
    people = {(method.upper(), path) for path, item in spec["paths"].items()
              for method, op in item.items() if method in METHODS and PEOPLE_TAGS & set(op["tags"])}
    assert {(method, route_of("catalog", path)) for method, path, *_ in CATALOG_CALLS} == people
    implemented = {(method, path) for (method, path), handler
                   in http_handlers(CatalogService).items()
                   if handler in {"http_login", "http_create_account", "http_accounts",
                                  "http_account_active", "http_create_device",
                                  "http_create_api_key", "http_audit", "http_devices",
                                  "http_revoke_device", "http_api_keys",
                                  "http_revoke_api_key"}}
    assert implemented == people


@pytest.mark.parametrize("method, path, who, body, status", CATALOG_CALLS)
def test_catalog_people_answers_are_the_documented_ones(catalog, method, path, who, body, status):
    spec = load("catalog")
    where = f"{method} {path} ({who}) {body}"
    got, headers, answer = http_call(CatalogService, catalog, method, path, who=who, body=body)
    assert got == status, f"{where}: {answer}"
    check_answer(spec, method, route_of("catalog", path), status, headers, answer, where)
    assert PASSWORD not in json.dumps(answer), f"{where}: a password is answered"


def test_catalog_credentials_are_the_documented_ones(catalog):
    """Tokens are ``v1.<claims>.<signature>`` under AUTH_SECRET, expiring as documented;
    the API key is what reporting is told to accept; nothing secret is stored or logged."""
    call = functools.partial(http_call, CatalogService, catalog)
    _, _, login = call("POST", "/api/catalog/auth/login",
                       body={"username": "siti.duk", "password": PASSWORD})
    claims = tokens.verify(login["token"], AUTH_SECRET)
    assert (claims["sub"], claims["role"], claims["agency"], claims["counters"]) == \
        ("account:siti.duk", "operator", "DISDUKCAPIL", ["BWI-L01", "BWI-L02"])
    assert claims["exp"] - claims["iat"] == login["expires_in"] == 12 * 3600
    _, _, device = call("POST", "/api/catalog/devices", who="admin", body=KIOSK)
    claims = tokens.verify(device["token"], AUTH_SECRET)
    assert (claims["sub"], claims["role"], claims["site"]) == \
        (f"device:{device['device_id']}", "kiosk", "BWI")
    assert claims["exp"] - claims["iat"] == device["expires_in"] == 365 * 86400
    _, _, key = call("POST", "/api/catalog/api-keys", who="admin",
                     body={"name": "Grafana", "agency": "DISDUKCAPIL"})
    assert catalog.verify_api_key(key["key"]) == {
        "subject": f"api_key:{key['key_id']}", "role": "report_viewer", "agency": "DISDUKCAPIL"}
    tampered = key["key"][:-1] + ("y" if key["key"].endswith("x") else "x")  # 1 in 64 ends in x
    assert catalog.verify_api_key(tampered) is None
    # the login token works at once where its role may act, and a deactivated account
    # cannot log in again while the token it holds stays valid until it expires
    assert call("GET", "/api/catalog/accounts", who=login["token"])[0] == 403
    call("POST", "/api/catalog/accounts/siti.duk/deactivate", who="admin")
    again = call("POST", "/api/catalog/auth/login",
                 body={"username": "siti.duk", "password": PASSWORD})
    assert again[0] == 401
    assert tokens.verify(login["token"], AUTH_SECRET)["sub"] == "account:siti.duk"
    db = catalog.repository.db
    stored = json.dumps([*db.accounts.find(), *db.api_keys.find(), *db.devices.find(),
                         *db.audit.find({}, {"_id": 0})], default=str)
    for secret in (PASSWORD, login["token"], device["token"], key["key"].split("_", 2)[2]):
        assert secret not in stored
    _, _, audit_log = call("GET", "/api/catalog/audit", who="admin")
    logged = {(entry["action"], entry["target"]["code"]) for entry in audit_log["items"]}
    assert {("account_created", "siti.duk"), ("device_created", device["device_id"]),
            ("api_key_created", key["key_id"]), ("account_deactivated", "siti.duk")} <= logged


def test_catalog_without_auth_secret_issues_no_token(quick_hashes):
    spec = load("catalog")
    service = catalog_worker({"ADMIN_TOKEN": ADMIN})
    call = functools.partial(http_call, CatalogService, service)
    assert call("POST", "/api/catalog/accounts", who="admin",
                body=new_account("dewi.duk"))[0] == 201
    for method, path, body in [("POST", "/api/catalog/auth/login",
                                {"username": "dewi.duk", "password": PASSWORD}),
                               ("POST", "/api/catalog/devices", KIOSK)]:
        status, headers, answer = call(method, path, who="admin", body=body)
        assert status == 409, answer
        check_answer(spec, method, path, status, headers, answer, path)
    assert call("GET", "/api/catalog/audit", who=token("admin"))[0] == 401  # only ADMIN_TOKEN


# -- security: each operation's `security` is what the code lets through --------------------

SCHEMES = {  # security scheme -> who holds such a credential (as in credential())
    "adminToken": "admin", "adminAccount": "admin_account",
    "agencyAdminAccount": "agency_admin", "operatorAccount": "operator",
    "kioskDevice": "kiosk", "displayDevice": "display", "reportViewerKey": "viewer",
}
UNPROBED = {"ticketSecret"}  # a ticket's secret: the queue's own tests
LOGIN_FAILED = "Nama pengguna atau kata sandi salah."  # the login's answer, not a check


def probe_worker(name):
    """The service's worker with every dependency a mock, but its credentials set."""
    config = {"ADMIN_TOKEN": ADMIN, "AUTH_SECRET": AUTH_SECRET, "ALLOW_PUBLIC_ISSUING": "true"}
    if name == "reporting":
        return worker_factory(ReportingService, config=config, catalog=banyuwangi_catalog())
    service = worker_factory(SERVICES[name], config=config)
    if name == "catalog":
        service.repository.token_floor.return_value = 0  # nothing revoked
    else:
        service.catalog.revoked.return_value = False
    return service


def first_example(spec, node):
    node = deref(spec, node)
    if "example" in node:
        return node["example"]
    return next((deref(spec, e)["value"] for e in (node.get("examples") or {}).values()), None)


def concrete(spec, method, path):
    """``path`` with each path parameter its documented example."""
    item = spec["paths"][path]
    values = {}
    for parameter in (*item.get("parameters", ()), *item[method].get("parameters", ())):
        parameter = deref(spec, parameter)
        if parameter["in"] == "path":
            values[parameter["name"]] = str(parameter.get("example", "x"))
    return path.format(**values)


def routed(name, method, path):
    """Whether nameko's werkzeug routes ``method path`` (its example) to a handler."""
    try:
        url_map(SERVICES[name]).bind("localhost").match(
            concrete(load(name), method, path), method=method.upper())
    except NotFound:
        return False
    return True


# Documented routes werkzeug does not route (remove one once it is fixed):
KNOWN_UNROUTED = set()


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_documented_route_is_routed(name):
    unrouted = {(name, method.lower(), path) for method, path in documented_routes(load(name))
                if not routed(name, method.lower(), path)}
    assert unrouted == {(n, m.lower(), p) for n, m, p in KNOWN_UNROUTED if n == name}


def probe(name, service, method, path, who):
    """``(let through, status)`` of ``method path`` with ``who``'s credential, its path
    parameters and body the documented examples: let through unless refused for the
    credential (401) or its role (403 naming the role); status None when the handler
    got past the checks into the mocked dependencies."""
    spec = load(name)
    op = spec["paths"][path][method]
    body = None
    if "requestBody" in op:
        content = deref(spec, op["requestBody"])["content"].get("application/json")
        body = first_example(spec, content) if content else None
    try:
        with patch("services.reporting.dependencies.peek_dead_letters", return_value=[]), \
                patch("services.reporting.dependencies.take_dead_letter", return_value=None), \
                patch("services.reporting.dependencies.replay_dead_letters", return_value=0):
            status, _, answer = http_call(SERVICES[name], service, method.upper(),
                                          concrete(spec, method, path), who=who, body=body)
    except Exception:  # noqa: BLE001  (past the checks, the mocks answer nonsense)
        return True, None
    refused = (status == 401 and answer.get("message") != LOGIN_FAILED) or \
        (status == 403 and "role" in answer)
    return not refused, status


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_security_is_what_the_code_lets_through(name, quick_hashes):
    """For every operation, the credentials the code accepts are exactly the schemes its
    `security` names (`{}`: no credential), and its 401 and 403 are documented."""
    spec = load(name)
    service = probe_worker(name)
    for path, item in spec["paths"].items():
        for method, op in ((m, o) for m, o in item.items() if m in METHODS):
            where = f"{method.upper()} {path}"
            if not routed(name, method, path):
                continue  # test_every_documented_route_is_routed
            results = {who: probe(name, service, method, path, who)
                       for who in (*SCHEMES.values(), None, "expired")}
            through = {scheme for scheme, who in SCHEMES.items() if results[who][0]}
            through |= {"anonymous"} if results[None][0] else set()
            documented = op.get("security", spec.get("security"))
            if documented is None:  # public: no credential needed, none looked at
                assert through == set(SCHEMES) | {"anonymous"}, where
                assert results["expired"][0], where
            else:
                assert all(len(requirement) <= 1 for requirement in documented), where
                named = {scheme for requirement in documented for scheme in requirement}
                anonymous = {"anonymous"} if {} in documented else set()
                assert through == named - UNPROBED | anonymous, where
                assert not results["expired"][0], f"{where}: an expired token is let through"
            statuses = {status for _, status in results.values()}
            refused_401 = any(status == 401 and not ok for ok, status in results.values())
            assert not refused_401 or "401" in op["responses"], f"{where}: 401 undocumented"
            assert ("403" in op["responses"]) == (403 in statuses), f"{where}: 403"


def test_anonymous_issuing_follows_allow_public_issuing():
    spec = load("queue")
    service = worker_factory(QueueService, config={"ADMIN_TOKEN": ADMIN, "AUTH_SECRET": AUTH_SECRET,
                                                   "ALLOW_PUBLIC_ISSUING": "false"})
    status, headers, answer = http_call(QueueService, service, "POST", "/api/queue/tickets",
                                        body={"service": "DISDUKCAPIL-KTP-EL"})
    assert status == 401
    check_answer(spec, "POST", "/api/queue/tickets", status, headers, answer, "closed issuing")
    documented = operation(spec, "POST", "/api/queue/tickets")["responses"]["401"]["content"]
    assert answer in [e["value"] for e in documented["application/json"]["examples"].values()]
    described = flat(spec["info"]["description"])
    assert "`ALLOW_PUBLIC_ISSUING`" in described and "`channel` is always `web`" in described


def test_every_document_declares_the_same_security_schemes():
    schemes = {name: load(name)["components"]["securitySchemes"] for name in SERVICES}
    assert all(declared == schemes["catalog"] for declared in schemes.values())
    assert set(schemes["catalog"]) == set(SCHEMES) | UNPROBED
    described = flat(" ".join(s["description"] for s in schemes["catalog"].values()))
    for role in tokens.ROLES:
        assert f"`{role}`" in described, role
    for words in ("`v1.<claims>.<signature>`", "HMAC-SHA256", "`AUTH_SECRET`", "`exp`",
                  "`AUTH_TOKEN_HOURS`", "`DEVICE_TOKEN_DAYS`", "ak_<key_id>_<secret>"):
        assert words in described, words


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_no_document_speaks_of_the_old_credentials(name):
    text = (DOCS / f"{name}.yaml").read_text(encoding="utf-8")
    for words in ("STAFF_TOKEN", "staffToken", "accountToken", "without authentication",
                  "token admin", "token staff"):
        assert words not in text, words


def refusal_messages():
    """A pattern of every message the services refuse with (``Unauthorized(...)`` and
    ``Forbidden(...)`` in their source; what an f-string fills in matches anything)."""
    patterns = []
    for source in (DOCS.parents[1] / "services").rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in \
                    ("Unauthorized", "Forbidden") and node.args:
                text = node.args[0]
                parts = text.values if isinstance(text, ast.JoinedStr) else [text]
                patterns.append("".join(re.escape(p.value) if isinstance(p, ast.Constant)
                                        else ".+" for p in parts))
    return patterns


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_documented_refusals_are_the_code_s(name):
    spec = load(name)
    patterns = refusal_messages()
    found = [(where, example) for where, _, example in media_examples(spec, {
        "paths": spec["paths"], "components": {k: v for k, v in spec["components"].items()
                                               if k != "schemas"}})
             if isinstance(example, dict) and example.get("error") in ("unauthorized",
                                                                       "forbidden")]
    assert len(found) > 3
    for where, example in found:
        assert any(re.fullmatch(p, example["message"]) for p in patterns), \
            f"{name} {where}: {example['message']!r} is not a message of the code"
        if "role" in example:
            assert example["role"] in tokens.ROLES
            assert example["message"].startswith(f"Peran {example['role']} "), where


# -- reporting: what the service answers for a scripted day ---------------------------------

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
        extra = {  # what the queue adds to these events (see services/queue/commands.py)
            "issue": {"position": 1, "estimated_wait_minutes": 5} if channel != "transfer" else {},
            "transfer": {"to_service": "DISDUKCAPIL-AKTA-LAHIR", "to_agency": "DISDUKCAPIL",
                         "to_ticket_number": "DN-001"},
            "cancel": {"cancelled_by": "citizen", "reason": None},
        }.get(action, {})
        events.append(queue_domain.ticket_event(ticket, action, local(hhmm), **extra)
                      .envelope("/antre/queue"))
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


def banyuwangi_catalog():
    """The catalog as these tests' services read it: MPP Banyuwangi, the agencies and
    services of ``NAMES``, 43 counters, and the viewer's API key (``VIEWER_KEY``)."""
    return FakeCatalog(
        sites=[{"code": "BWI", "name": "Mal Pelayanan Publik Kabupaten Banyuwangi",
                "timezone": "Asia/Jakarta"}],
        agencies=[{"code": code, "name": name} for (kind, code), name in NAMES.items()
                  if kind == "agencies"],
        services=[{"code": code, "name": name, "site": "BWI", "agency": code.split("-")[0]}
                  for (kind, code), name in NAMES.items() if kind == "services"],
        counters=[{"code": f"BWI-L{n:02d}", "name": f"Loket {n}", "site": "BWI"}
                  for n in range(1, 44)],
        api_keys={VIEWER_KEY: VIEWER})


class FakeOutbox:
    def __init__(self):
        self.relayed = []

    def relay_document(self, collection, document_id):
        self.relayed.append(collection.find_one({"_id": document_id}))


@pytest.fixture
def reporting(monkeypatch):
    """The reporting service's worker over mongomock, having ingested the scripted day
    (and the broker's answer about its queues: nothing waiting)."""
    monkeypatch.setattr("services.reporting.dependencies.backlog",
                        lambda amqp_uri, service: {"ready": 0, "retrying": 0, "dead": 0})
    service = worker_factory(
        ReportingService, repository=ReportingRepository(mongomock.MongoClient().reporting),
        outbox=FakeOutbox(), catalog=banyuwangi_catalog(),
        config={"ADMIN_TOKEN": ADMIN, "AUTH_SECRET": AUTH_SECRET})
    for event in scripted_day():
        service.ingest(json.loads(json.dumps(event)))
    return service


DEAD_LETTER = {
    "id": "6c1f0e8a2b7d4c35a9e0f1b2c3d4e5f6",
    "attempts": 5, "error": "KeyError: 'ticket_id'", "routing_key": "ticket.issued.DISDUKCAPIL",
    "dead_lettered_at": "2026-11-23T01:02:10.500Z",
    "message_id": "0b6f3c1e-9c2a-4d7e-8f41-5a0e2b7d9c13",
    "content_type": "application/cloudevents+json", "content_encoding": "utf-8", "size": 254,
    "body": None, "body_encoding": "json",
    "event": {"specversion": "1.0", "id": "0b6f3c1e-9c2a-4d7e-8f41-5a0e2b7d9c13",
              "source": "/antre/queue", "type": "antre.ticket.issued.v1",
              "time": "2026-11-23T01:02:00.000Z", "subject": "tickets/t-DA-001",
              "datacontenttype": "application/json", "site": "BWI", "agency": "DISDUKCAPIL",
              "data": {"site": "BWI"}},
}
# (method, path, query, who, expected status, example name or None); who as in credential()
REPORTING_CALLS = [
    ("GET", "/health", "", None, 200, None),
    ("GET", "/api/reporting/daily", f"date={DAY}", "viewer", 200, "morning"),
    ("GET", "/api/reporting/daily", "site=BWI&date=2026-11-24", "agency_admin", 200, "empty"),
    ("GET", "/api/reporting/daily", "date=23-11-2026&day=2026-11-23", "viewer", 400, None),
    ("GET", "/api/reporting/daily", f"date={DAY}", None, 401, None),
    ("GET", "/api/reporting/daily", f"date={DAY}", "bad_key", 401, None),
    ("GET", "/api/reporting/daily", f"date={DAY}", "expired", 401, None),
    ("GET", "/api/reporting/daily", f"date={DAY}", "operator", 403, None),
    ("GET", "/api/reporting/daily", f"date={DAY}&agency=IMIGRASI", "agency_admin", 403, "agency"),
    ("GET", "/api/reporting/daily", f"date={DAY}&agency=IMIGRASI", "viewer", 200, None),
    ("GET", "/api/reporting/daily.csv", f"date={DAY}", "viewer", 200, "csv"),
    ("GET", "/api/reporting/daily.csv", f"date={DAY}", None, 401, None),
    ("GET", "/api/reporting/daily.csv", f"date={DAY}", "kiosk", 403, None),
    ("GET", "/api/reporting/daily.csv", f"date={DAY}&agency=IMIGRASI", "agency_admin", 403, None),
    ("GET", "/api/reporting/breakdown", f"site=BWI&date={DAY}", "admin_account", 200, "morning"),
    ("GET", "/api/reporting/breakdown", "date=2026-11-24", "viewer", 200, "empty"),
    ("GET", "/api/reporting/breakdown", "site=bwi", "viewer", 400, None),
    ("GET", "/api/reporting/breakdown", "site=bwi", None, 401, None),
    ("GET", "/api/reporting/breakdown", "", "display", 403, None),
    ("GET", "/api/reporting/breakdown", f"date={DAY}&agency=IMIGRASI", "agency_admin", 403, None),
    ("GET", "/api/reporting/ikm", "from=2026-11-01&to=2026-11-30", "viewer", 200, "november"),
    ("GET", "/api/reporting/ikm", "site=BWI&from=2026-12-01&to=2026-12-31", "admin", 200,
     "none"),
    ("GET", "/api/reporting/ikm", "from=2026-11-30&to=2026-11-01", "viewer", 400, None),
    ("GET", "/api/reporting/ikm", "to=2026-11-30", "viewer", 400, None),
    ("GET", "/api/reporting/ikm", "to=2026-11-30", None, 401, None),
    ("GET", "/api/reporting/ikm", "to=2026-11-30", "operator", 403, None),
    ("GET", "/api/reporting/ikm", "from=2026-11-01&to=2026-11-30&agency=DISDUKCAPIL", "admin",
     200, None),
    ("GET", "/api/reporting/ikm", "from=2026-11-01&to=2026-11-30&agency=DISDUKCAPIL",
     "imigrasi_admin", 403, None),
    ("GET", "/api/reporting/ikm.csv", "from=2026-11-01&to=2026-11-30", "viewer", 200, "csv"),
    ("GET", "/api/reporting/ikm.csv", "from=2026-11-01&to=2026-11-30", None, 401, None),
    ("GET", "/api/reporting/ikm.csv", "from=2026-11-01&to=2026-11-30", "operator", 403, None),
    ("GET", "/metrics", "", "viewer", 200, "metrics"),
    ("GET", "/metrics", "", None, 401, None),
    ("GET", "/metrics", "", "kiosk", 403, None),
    ("GET", "/metrics", "", "agency_admin", 200, "agency"),
    ("GET", "/metrics", "agency=DISDUKCAPIL", "viewer", 200, "agency"),
    ("GET", "/metrics", "agency=IMIGRASI", "agency_admin", 403, "agency"),
    ("GET", "/metrics", "colour=red", "viewer", 400, None),
    ("GET", "/dashboard/BWI", "", None, 200, None),
    ("GET", "/dashboard/assets/logo.png", "", None, 404, None),
    ("POST", "/api/reporting/replay", "", None, 401, None),
    ("POST", "/api/reporting/replay", "", "viewer", 403, None),
    ("POST", "/api/reporting/replay", "", "agency_admin", 403, None),
    ("POST", "/api/reporting/replay", "", "admin", 200, "replay"),
    ("GET", "/api/reporting/dead-letters", "limit=20", "admin", 200, None),
    ("GET", "/api/reporting/dead-letters", "limit=20", "admin_account", 200, None),
    ("GET", "/api/reporting/dead-letters", "limit=0", "admin", 400, None),
    ("GET", "/api/reporting/dead-letters", "", None, 401, None),
    ("GET", "/api/reporting/dead-letters", "", "viewer", 403, None),
    ("POST", "/api/reporting/dead-letters/replay", "limit=50", "admin", 200, None),
    ("POST", "/api/reporting/dead-letters/replay", "limit=50", "expired", 401, None),
    ("POST", "/api/reporting/dead-letters/replay", "limit=50", "agency_admin", 403, None),
    ("POST", f"/api/reporting/dead-letters/{DEAD_LETTER['id']}/requeue", "", "admin", 200, None),
    ("POST", "/api/reporting/dead-letters/ffff/requeue", "", "admin", 404, None),
    ("POST", "/api/reporting/dead-letters/BAD!/requeue", "", "admin", 400, "letter_id"),
    ("POST", "/api/reporting/dead-letters/ffff/requeue", "", None, 401, None),
    ("POST", "/api/reporting/dead-letters/ffff/requeue", "", "viewer", 403, None),
    ("POST", f"/api/reporting/dead-letters/{DEAD_LETTER['id']}/drop", "", "admin_account", 200, None),
    ("POST", "/api/reporting/dead-letters/ffff/drop", "", "admin", 404, None),
    ("POST", "/api/reporting/dead-letters/ffff/drop", "", "agency_admin", 403, None),
]


def take_dead_letter(amqp_uri, service_name, letter_id, action):
    return DEAD_LETTER if letter_id == DEAD_LETTER["id"] else None


def answer(service, method, path, query="", who="viewer"):
    """``(status, content type, body)`` of ``method path`` with ``who``'s credential."""
    with patch("services.reporting.service.utcnow", return_value=local("10:00")), \
            patch("services.reporting.dependencies.peek_dead_letters", return_value=[DEAD_LETTER]), \
            patch("services.reporting.dependencies.take_dead_letter", take_dead_letter), \
            patch("services.reporting.dependencies.replay_dead_letters", return_value=1):
        status, headers, content = http_call(ReportingService, service, method, path, query, who)
    return status, headers["Content-Type"], content


def properties_of(spec, schema):
    """Every property an object schema names, through ``allOf``."""
    schema = deref(spec, schema)
    found = dict(schema.get("properties", {}))
    for part in schema.get("allOf", ()):
        found.update(properties_of(spec, part))
    return found


def check_exact(spec, schema, value, where, subset=False):
    """``value`` names exactly the documented properties, at every depth (with
    ``subset``: no undocumented one; optional ones may be absent); of one of them when
    the schema is a choice (``anyOf``, ``oneOf``)."""
    schema, _ = split_null(spec, schema)
    choices = schema.get("anyOf") or schema.get("oneOf")
    if choices and not properties_of(spec, schema):
        misses = []
        for choice in choices:
            try:
                return check_exact(spec, choice, value, where, subset)
            except AssertionError as miss:
                misses.append(str(miss))
        raise AssertionError(f"{where}: none of the choices: {misses}")
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
    assert {(method, route_of("reporting", path)) for method, path, *_ in REPORTING_CALLS} == \
        documented_routes(load("reporting"))


@pytest.mark.parametrize("method, path, query, who, status, example", REPORTING_CALLS)
def test_reporting_answers_are_the_documented_ones(reporting, method, path, query, who, status,
                                                   example):
    spec = load("reporting")
    where = f"{method} {path}?{query} ({who})"
    got_status, content_type, body = answer(reporting, method, path, query, who)
    assert got_status == status, f"{where}: {body}"
    documented = operation(spec, method, route_of("reporting", path))
    response = deref(spec, documented["responses"][str(status)])
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


@pytest.mark.parametrize("agency", ["DISDUKCAPIL", "IMIGRASI"])
def test_an_agency_s_reports_are_its_own_figures_of_the_whole_view(reporting, agency):
    """What an agency admin reads (totals and the site's rows too) is its agency's row
    of the view the MPP reads, and the same as the MPP asking for that agency."""
    who = {"DISDUKCAPIL": "agency_admin", "IMIGRASI": "imigrasi_admin"}[agency]
    day, month = f"date={DAY}", "from=2026-11-01&to=2026-11-30"

    def read(path, query, reader):
        status, _, body = answer(reporting, "GET", path, query, reader)
        assert status == 200, body
        return body

    whole = read("/api/reporting/daily", day, "viewer")
    own = read("/api/reporting/daily", day, who)
    assert own == read("/api/reporting/daily", f"{day}&agency={agency}", "viewer")
    row = next(a for a in whole["agencies"] if a["agency"] == agency)
    assert own["totals"] == {k: v for k, v in row.items() if k not in ("agency", "name")}
    assert own["totals"] != whole["totals"]
    assert own["agencies"] == [row]
    assert own["services"] == [s for s in whole["services"] if s["agency"] == agency]
    assert own["counters"] == [c for c in whole["counters"] if c["agency"] == agency]
    assert sum(h["issued"] for h in own["hours"]) == row["issued"]
    rows = list(csv.reader(io.StringIO(read("/api/reporting/daily.csv", day, who))))
    assert rows[1][:4] == ["BWI", DAY, "site", "BWI"] and rows[1][5] == str(row["issued"])
    assert {r[4] for r in rows[2:]} == {agency}
    assert read("/api/reporting/breakdown", day, who)["rows"] == \
        [r for r in read("/api/reporting/breakdown", day, "viewer")["rows"]
         if r["agency"] == agency]
    index, own_index = read("/api/reporting/ikm", month, "viewer"), read("/api/reporting/ikm",
                                                                        month, who)
    ikm_row = next(a for a in index["agencies"] if a["agency"] == agency)
    assert own_index["overall"] == {k: v for k, v in ikm_row.items()
                                    if k not in ("agency", "name")}
    assert own_index["agencies"] == [ikm_row]
    assert own_index["services"] == [s for s in index["services"] if s["agency"] == agency]
    metrics = read("/metrics", "", who).splitlines()
    assert [line for line in metrics if not line.startswith("#")] == \
        [line for line in read("/metrics", "", "viewer").splitlines()
         if f'agency="{agency}"' in line]


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

AGENCY_SECRET = "Rahasia-Webhook-Disdukcapil-2026"
HUB = "https://dashboard.diskominfo.banyuwangikab.go.id/hooks/antre"  # answers 503
SIAK = "https://siak.banyuwangikab.go.id/antre/webhook"  # answers 200
NOTIFY_CONFIG = {"ADMIN_TOKEN": ADMIN, "AUTH_SECRET": AUTH_SECRET, "WEBHOOK_MAX_ATTEMPTS": "2",
                 "WEBHOOK_RETRY_SECONDS": "1", "PUBLIC_BASE_URL": "https://antre.banyuwangikab.go.id"}


def notify_call(service, method, path, query="", who=None, body=None, headers=None):
    """``(status, headers, body)`` of ``method path`` at 10:00, the body parsed when JSON,
    the Response itself when a stream; ``who``: None, "admin" or a bearer token."""
    with patch("services.notify.service.utcnow", return_value=local("10:00")):
        return http_call(NotifyService, service, method, path, query, who, body, headers)


def read_stream(response, chunks=100):
    """What the stream sends until its first keep-alive (sleeping and waiting skipped)."""
    quick = SimpleNamespace(sleep=lambda seconds: None)
    with patch.object(notify_dependencies, "eventlet", quick), \
            patch.object(notify_dependencies, "KEEP_ALIVE_SECONDS", 0):
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


@pytest.fixture(autouse=True)
def agencies_resolve_publicly():
    """The agencies' webhook hosts resolve to a public address, without real DNS."""
    with patch("services.notify.commands.resolve_host", lambda host: ["93.184.216.34"]):
        yield


@pytest.fixture
def notify(agencies_resolve_publicly):
    """The notify worker over mongomock after a scripted morning at MPP Banyuwangi: two
    webhooks (Disdukcapil's ticket events; every event, failing until dead), a citizen
    who gave a phone number, calls of two agencies, recalls, a no-show, a completion and
    a survey; messages sent and deliveries attempted."""
    repository = NotifyRepository(mongomock.MongoClient(tz_aware=True).notify)
    repository.ensure_indexes()
    secrets = SimpleNamespace(vault=Vault(Fernet.generate_key()), provider=LogProvider())
    service = worker_factory(
        NotifyService, repository=repository, secrets=secrets, catalog=banyuwangi_catalog(),
        queue_rpc=SimpleNamespace(positions=lambda ids: dict.fromkeys(ids, 2)),
        config=NOTIFY_CONFIG)
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
                minutes=minute)), patch("services.notify.service.webhook_post", lambda config: post):
            service.on_event(json.loads(json.dumps(event)))
            service.send_messages()
            service.deliver_webhooks()
    with patch("services.notify.service.utcnow", return_value=local("09:50")), \
            patch("services.notify.service.webhook_post", lambda config: post):
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
    ("GET", "/api/notify/webhooks", "agency=*", "admin", None, 200),
    ("GET", "/api/notify/webhooks", "agency=disdukcapil", "admin", None, 400),
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
    return route_of("notify", path)


def test_notify_calls_cover_every_route():
    assert {(method, notify_route(path)) for method, path, *_ in NOTIFY_CALLS} == \
        documented_routes(load("notify"))


@pytest.mark.parametrize("method, path, query, who, body, status", NOTIFY_CALLS)
def test_notify_answers_are_the_documented_ones(notify, method, path, query, who, body, status):
    spec = load("notify")
    ids = {"siak": notify.siak["webhook_id"], "hub": notify.hub["webhook_id"],
           "dead": notify.dead, "sent": notify.sent}
    path = path.format(**ids)
    where = f"{method} {path}?{query} ({who})"
    got, headers, answer = notify_call(notify.service, method, path, query, who, body)
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
