"""Every event Antre publishes is the event ``docs/asyncapi.yaml`` documents.

No event here is written by hand: the real use cases run (the queue's commands
through a whole day with every transition, the catalog's import, update,
deactivation and activation of each kind, reporting's day close over the queue's
own events), and the envelopes they put in their documents' outboxes are checked
against the published contract:

* each envelope is valid against the payload of the message whose ``type`` it has
  (``$ref``s resolved within the document, formats such as ``date-time`` checked);
* every field an event carries is listed in the document (the schemas allow more,
  for additive changes, so this is checked separately);
* the set of event types emitted is exactly the set documented, and each routing
  key matches its message's documented pattern;
* the document itself is coherent: one message per type, every message sent by an
  operation, every example valid.
"""

import json
import re
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from unittest.mock import patch

import pytest
import yaml
from jsonschema import Draft7Validator
from nameko.testing.services import worker_factory
from referencing import Registry
from referencing.jsonschema import DRAFT7

from antre_devtools.costs import MONDAY_9AM, Clock
from services.catalog import commands as catalog_commands
from services.catalog.domain import KINDS
from services.catalog.repository import CatalogRepository
from services.kernel.contract import contract
from services.kernel.events import CONTENT_TYPE
from services.queue.commands import QueueCommands
from services.queue.queries import Settings
from services.queue.repository import QueueRepository
from services.reporting.repository import ReportingRepository
from services.reporting.service import ReportingService
from tests.unit.catalog.factories import agency, document
from tests.unit.queue.conftest import default_catalog

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.yaml"
BASE = "urn:antre:asyncapi"  # the document's base URI for resolving its "#/..." references
AGENCY = r"[A-Z0-9][A-Z0-9-]*"  # a catalog code
TUESDAY_9AM = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


# -- the published document ---------------------------------------------------------------

@cache
def spec():
    return yaml.safe_load(DOCUMENT.read_text(encoding="utf-8"))


@cache
def registry():
    return Registry().with_resource(BASE, DRAFT7.create_resource(spec()))


def pointer_get(ref):
    """The node a local reference (``#/a/b``) points to."""
    assert ref.startswith("#/"), f"only references within the document are used: {ref}"
    node = spec()
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def deref(node):
    while isinstance(node, dict) and "$ref" in node:
        node = pointer_get(node["$ref"])
    return node


def channel():
    (name, value), = spec()["channels"].items()
    return name, value


def messages():
    """``{message key: (the message, the JSON pointer of its payload)}`` of the channel."""
    _, events = channel()
    found = {}
    for key, ref in events["messages"].items():
        assert "$ref" in ref, f"{key}: channel messages refer to components/messages"
        message = deref(ref)
        payload = message["payload"]
        found[key] = (message, payload["$ref"] if "$ref" in payload else f"{ref['$ref']}/payload")
    return found


def consts(schema, name):
    """Every ``const`` the schema sets for property ``name`` (through $ref and allOf)."""
    schema = deref(schema)
    found = set()
    if not isinstance(schema, dict):
        return found
    prop = deref(schema.get("properties", {}).get(name, {}))
    if "const" in prop:
        found.add(prop["const"])
    for sub in schema.get("allOf", []):
        found |= consts(sub, name)
    return found


@cache
def documented():
    """``{event type: (message key, the message, payload pointer)}``."""
    found = {}
    for key, (message, pointer) in messages().items():
        types = consts({"$ref": pointer}, "type")
        assert len(types) == 1, f"{key}: the payload must fix one CloudEvents type"
        (event_type,) = types
        assert event_type not in found, f"{event_type} is documented twice"
        found[event_type] = (key, message, pointer)
    return found


def validator(pointer):
    return Draft7Validator({"$ref": f"{BASE}{pointer}"}, registry=registry(),
                           format_checker=Draft7Validator.FORMAT_CHECKER)


def errors_of(pointer, instance):
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
            for e in validator(pointer).iter_errors(instance)]


def property_schemas(schema):
    """The property schemas and the map schemas an object schema allows, gathered over
    ``$ref``, ``allOf``, ``anyOf``, ``oneOf`` and ``if``/``then``/``else``."""
    schema = deref(schema)
    props, maps = {}, []
    if not isinstance(schema, dict):
        return props, maps
    for name, sub in schema.get("properties", {}).items():
        props.setdefault(name, []).append(sub)
    if isinstance(schema.get("additionalProperties"), dict):
        maps.append(schema["additionalProperties"])
    for keyword in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(keyword, []):
            more, more_maps = property_schemas(sub)
            for name, subs in more.items():
                props.setdefault(name, []).extend(subs)
            maps.extend(more_maps)
    for keyword in ("then", "else"):
        if keyword in schema:
            more, more_maps = property_schemas(schema[keyword])
            for name, subs in more.items():
                props.setdefault(name, []).extend(subs)
            maps.extend(more_maps)
    return props, maps


def item_schemas(schema):
    schema = deref(schema)
    if not isinstance(schema, dict):
        return []
    found = [schema["items"]] if isinstance(schema.get("items"), dict) else []
    for keyword in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(keyword, []):
            found += item_schemas(sub)
    return found


def undocumented(schemas, value, path=""):
    """Paths of the fields in ``value`` that none of ``schemas`` (all applying to it) names."""
    missing = []
    if isinstance(value, dict):
        props, maps = {}, []
        for schema in schemas:
            more, more_maps = property_schemas(schema)
            for name, subs in more.items():
                props.setdefault(name, []).extend(subs)
            maps += more_maps
        for key, sub in value.items():
            where = f"{path}.{key}" if path else key
            if key in props or maps:
                missing += undocumented(props.get(key) or maps, sub, where)
            else:
                missing.append(where)
    elif isinstance(value, list):
        items = [item for schema in schemas for item in item_schemas(schema)]
        for i, item in enumerate(value):
            missing += undocumented(items, item, f"{path}[{i}]")
    return sorted(set(missing))


def routing_pattern(message):
    """The message's documented routing key (``x-routing-key``) as a regular expression;
    ``{agency}`` stands for an agency code."""
    key = message["x-routing-key"]
    return re.compile("^" + re.escape(key).replace(r"\{agency\}", f"(?P<agency>{AGENCY})") + "$")


# -- the events the services emit ---------------------------------------------------------

def outbox(repository):
    """``(routing key, envelope)`` of every pending event of a repository, as JSON."""
    return [(entry["routing_key"], json.loads(json.dumps(entry["envelope"])))
            for collection in repository.outbox_collections()
            for doc in collection.find()
            for entry in doc.get("outbox", [])]


def queue_day(database):
    """A queue day with every ticket, counter and feedback event; returns its outbox."""
    repo = QueueRepository(database("queue"))
    repo.ensure_indexes()
    clock = Clock(MONDAY_9AM)
    queue = QueueCommands(repo, default_catalog(), clock,
                          Settings(max_priority_streak=2, no_show_after_recalls=2))

    def minutes(n):
        clock.advance(minutes=n)

    queue.open_counter("L01")                                            # counter.opened
    served = queue.issue("KTP-EL")[0]["ticket_id"]                       # ticket.issued
    absent = queue.issue("AKTA", channel="web", priority="elderly")[0]["ticket_id"]
    by_citizen = queue.issue("KTP-EL", channel="api")[0]["ticket_id"]
    by_operator = queue.issue("AKTA", channel="appointment", priority="disaster_victim",
                              appointment={"booking": "BK7Q2M", "slot_start": MONDAY_9AM}
                              )[0]["ticket_id"]
    minutes(3)
    assert queue.call_next("L01")["_id"] == absent                       # ticket.called
    for _ in range(2):
        minutes(1)
        queue.recall(absent, "L01")                                      # ticket.recalled
    queue.no_show(absent, "L01")                                         # ticket.no_show
    queue.cancel(by_citizen, "citizen")                                  # ticket.cancelled
    queue.cancel(by_operator, "operator", reason="Dokumen belum lengkap")
    minutes(1)
    assert queue.call_next("L01")["_id"] == served
    queue.start(served, "L01")                                           # ticket.serving
    minutes(7)
    queue.complete(served, "L01")                                        # ticket.completed
    queue.feedback(served, {f"u{i}": 3 + i % 2 for i in range(1, 10)},  # feedback.submitted
                   comment="Cepat dan ramah")
    moved = queue.issue("KTP-EL", priority="disability")[0]["ticket_id"]
    minutes(2)
    assert queue.call_next("L01")["_id"] == moved
    queue.start(moved, "L01")
    minutes(5)
    queue.transfer(moved, "L01", "BPJS")                   # ticket.transferred, ticket.issued
    back = queue.issue("AKTA", priority="pregnant")[0]["ticket_id"]
    minutes(1)
    assert queue.call_next("L01")["_id"] == back
    queue.close_counter("L01")                             # ticket.returned, counter.closed
    queue.open_counter("L02")
    queue.pause_counter("L02", "Istirahat")                              # counter.paused
    queue.open_counter("L02")
    queue.issue("KK", priority="child")
    clock.now = TUESDAY_9AM
    assert queue.close_past_days() == 3        # cancelled by the system: the day is closed
    return outbox(repo)


def catalog_changes(database):
    """Every kind of catalog entity created, updated, deactivated and activated."""
    repo = CatalogRepository(database("catalog"))
    repo.ensure_indexes()
    catalog_commands.import_catalog(repo, document(agencies=[
        agency(), agency(code="BPJSKES", name="BPJS Kesehatan", kind="national_body")]))
    updates = {"sites": ("BWI", {"name": "MPP Kabupaten Banyuwangi", "closed_dates": [
                   {"date": "2026-12-25", "label": "Hari Raya Natal"}]}),
               "agencies": ("DISDUKCAPIL", {"name": "Dinas Dukcapil"}),
               "services": ("KTP-EL", {"fee": 0, "daily_quota": None, "typical_service_minutes": 12}),
               "counters": ("L01", {"zone": "Lantai 2"})}
    for kind in KINDS:
        code, fields = updates[kind]
        catalog_commands.update(repo, kind, code, fields)
        catalog_commands.set_active(repo, kind, code, False)
        catalog_commands.set_active(repo, kind, code, True)
    return outbox(repo)


class KeepOutbox:
    """Reporting's outbox relay, publishing nothing: the events stay in the outbox."""

    def relay_document(self, collection, document_id):
        return 0


def reporting_day(database, queue_events):
    """Reporting ingests the queue's events and closes the day, as its timer does."""
    repository = ReportingRepository(database("reporting"))
    repository.ensure_indexes()
    reporting = worker_factory(ReportingService, repository=repository, outbox=KeepOutbox(),
                               catalog=default_catalog(), config={})
    for _, envelope in sorted(queue_events, key=lambda pair: pair[1]["time"]):
        reporting.ingest(json.loads(json.dumps(envelope)))
    with patch("services.reporting.service.utcnow", return_value=TUESDAY_9AM):
        reporting.close_days()
    return outbox(repository)


@pytest.fixture
def emitted(database):
    """``(routing key, envelope)`` of every event the scripted day made the services emit."""
    queue_events = queue_day(database)
    return queue_events + catalog_changes(database) + reporting_day(database, queue_events)


# -- the tests ------------------------------------------------------------------------------

def test_every_emitted_event_is_valid_against_its_documented_message(emitted):
    assert "date-time" in Draft7Validator.FORMAT_CHECKER.checkers, "date-time would go unchecked"
    problems = []
    for _, envelope in emitted:
        if envelope["type"] not in documented():
            problems.append(f"{envelope['type']}: not documented")
            continue
        _, _, pointer = documented()[envelope["type"]]
        problems += [f"{envelope['type']} {error}" for error in errors_of(pointer, envelope)]
    assert not problems, "\n".join(problems)


def test_every_field_emitted_is_listed_in_the_document(emitted):
    problems = []
    for _, envelope in emitted:
        _, _, pointer = documented()[envelope["type"]]
        problems += [f"{envelope['type']}: {path}"
                     for path in undocumented([{"$ref": pointer}], envelope)]
    assert not sorted(set(problems)), "undocumented fields:\n" + "\n".join(sorted(set(problems)))


def test_the_consumers_check_every_emitted_event_as_this_test_does(emitted):
    """``services.kernel.contract`` (what reporting and notify run before handling an
    event) knows exactly the documented types, at the same payload schemas, and lets
    every event Antre emits through."""
    runtime = contract()
    assert runtime.pointers == {t: pointer for t, (_, _, pointer) in documented().items()}
    refused = [(envelope["type"], runtime.problems(envelope)) for _, envelope in emitted
               if runtime.problems(envelope)]
    assert not refused


def test_the_event_types_emitted_are_exactly_the_documented_ones(emitted):
    assert {envelope["type"] for _, envelope in emitted} == set(documented())


def test_routing_keys_match_the_documented_patterns(emitted):
    for routing_key, envelope in emitted:
        _, message, _ = documented()[envelope["type"]]
        match = routing_pattern(message).match(routing_key)
        assert match, f"{envelope['type']}: {routing_key} is not {message['x-routing-key']}"
        for attr in ("site", "agency"):  # the envelope's attributes are the data's
            if isinstance(envelope["data"].get(attr), str):
                assert envelope.get(attr) == envelope["data"][attr], (envelope["type"], attr)
        if "agency" in match.groupdict():
            assert match["agency"] == envelope["agency"], routing_key
        else:
            assert routing_key.endswith("._site") and "agency" not in envelope, routing_key


def test_the_scripted_day_shows_every_documented_value(emitted):
    """So that a value documented but never emitted in this test cannot go unchecked."""
    schemas = spec()["components"]["schemas"]
    data = {}
    for _, envelope in emitted:
        data.setdefault(envelope["type"].split(".")[1], []).append(envelope["data"])
    cancelled_by = deref(schemas["TicketCancelledData"]["allOf"][1]["properties"]["cancelled_by"])
    previous = deref(schemas["CounterOpenedData"]["allOf"][1]["properties"]["previous_state"])
    for values, schema in [
        ({d["channel"] for d in data["ticket"]}, schemas["Channel"]),
        ({d["priority"] for d in data["ticket"]}, schemas["PriorityGroup"]),
        ({d["status"] for d in data["ticket"]}, schemas["TicketStatus"]),
        ({d.get("cancelled_by") for d in data["ticket"]} - {None}, cancelled_by),
        ({d["state"] for d in data["counter"]}, schemas["CounterState"]),
        ({d.get("previous_state") for d in data["counter"]} - {None}, previous),
        ({d["kind"] for d in data["catalog"]}, schemas["CatalogChange"]["properties"]["kind"]),
    ]:
        assert values == set(schema["enum"])


def test_the_document_is_coherent():
    document_ = spec()
    assert document_["asyncapi"] == "3.0.0"
    name, events = channel()
    bindings = events["bindings"]["amqp"]
    assert bindings["is"] == "routingKey"
    assert bindings["exchange"] == {"name": "antre.events", "type": "topic", "durable": True,
                                    "autoDelete": False, "vhost": "/"}
    sent = {}
    for operation_name, operation in document_["operations"].items():
        assert operation["action"] == "send", operation_name
        assert operation["channel"] == {"$ref": f"#/channels/{name}"}, operation_name
        for ref in operation["messages"]:
            assert ref["$ref"].startswith(f"#/channels/{name}/messages/"), operation_name
            key = ref["$ref"].rsplit("/", 1)[1]
            assert key not in sent, f"{key} is sent by {sent.get(key)} and {operation_name}"
            sent[key] = operation_name
    assert set(sent) == set(events["messages"]), "every message is sent by one operation"
    for event_type, (key, message, pointer) in documented().items():
        entity, action, major = event_type.split(".")[1:]
        assert message["contentType"] == CONTENT_TYPE, key
        assert message["bindings"]["amqp"]["messageType"] == event_type, key
        assert message["x-routing-key"].startswith(f"{entity}.{action}."), key
        assert major == "v1", key
        for example in message.get("examples", []):
            assert not errors_of(pointer, example["payload"]), f"{key} example {example['name']}"


def test_versioning_policy_is_published():
    description = " ".join(spec()["info"]["description"].split())
    for words in ("additive", "ignore unknown", "v2", "alongside", "at least once",
                  "de-duplicate", "personal data"):
        assert words in description, words
