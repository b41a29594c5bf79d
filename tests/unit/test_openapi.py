"""The OpenAPI documents in ``docs/openapi/`` describe the HTTP APIs as implemented.

* each document is valid OpenAPI 3.1;
* the routes documented are exactly the nameko HTTP entrypoints of the service;
* request bodies and query parameters mirror the marshmallow schemas that load them
  (fields, required, defaults, enums, ranges, lengths, patterns, unknown fields);
* every JSON example is valid against the schema it illustrates.
"""

import functools
import re
from pathlib import Path

import pytest
import yaml
from marshmallow import RAISE, ValidationError, fields, missing
from marshmallow import validate as checks
from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR
from nameko.web.handlers import HttpRequestHandler
from openapi_schema_validator import OAS31Validator, oas31_format_checker
from openapi_spec_validator import validate

from services.catalog import schemas as cs
from services.catalog.domain import KINDS
from services.catalog.schemas import HHMM, ClockTime
from services.catalog.service import CatalogService
from services.queue import schemas as qs
from services.queue.service import QueueService

DOCS = Path(__file__).resolve().parents[2] / "docs" / "openapi"
SERVICES = {"catalog": CatalogService, "queue": QueueService}
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


def implemented_routes(service_class):
    routes = set()
    for attribute in dir(service_class):
        entrypoints = getattr(getattr(service_class, attribute), ENTRYPOINT_EXTENSIONS_ATTR, set())
        for entrypoint in entrypoints:
            if isinstance(entrypoint, HttpRequestHandler):
                routes.update((entrypoint.method.upper(), path) for path in expand(entrypoint.url))
    return routes


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
}
TYPES = [(fields.Boolean, "boolean"), (fields.Integer, "integer"), (fields.String, "string"),
         (fields.Date, "string"), (fields.List, "array"), (fields.Nested, "object"),
         (fields.Dict, "object")]


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
    loaded = schema.load_fields
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
        assert set(query) == set(schema.load_fields), f"{where}: query parameters"
        for key, field in schema.load_fields.items():
            assert not query[key].get("required", False), f"{where}?{key}: required"
            check_field(spec, field, query[key]["schema"], f"{where}?{key}", query=True)


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
    found = list(media_examples(spec, {"paths": spec["paths"], "components": {
        k: v for k, v in spec["components"].items() if k != "schemas"}}))
    assert len(found) > 20
    for where, schema, example in found:
        validator = OAS31Validator({**schema, "components": spec["components"]},
                                   format_checker=oas31_format_checker)
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                  for e in validator.iter_errors(example)]
        assert not errors, f"{name} {where}: {errors}"
