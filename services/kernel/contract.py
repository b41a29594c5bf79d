"""The published event contract, as a validator that consumers run before they act.

``docs/asyncapi.yaml`` is the contract: one message per event type, each with the JSON
Schema of its whole CloudEvent. :class:`Contract` reads that document and answers, for
any decoded message body, what is wrong with it (nothing, for an event the contract
documents and whose every field has the documented type). Antre's own consumers
(:mod:`services.kernel.infra.consumer`) check every event with it before a handler sees it;
an event that fails goes to the dead-letter queue with the reason and is never stored.

An event type the document does not list is refused too: this consumer cannot know what
it means. (Agencies' consumers should ignore such types instead; Antre's dead-letter
them, so that they can be re-queued once the consumer knows the type.)

The file is found at ``EVENT_CONTRACT_FILE`` when set, else at ``docs/asyncapi.yaml``
of the source tree (the Docker image copies it there).
"""

import functools
from datetime import datetime
from pathlib import Path

import fastjsonschema
import yaml

from services.kernel.config import setting

DEFAULT_FILE = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.yaml"
DRAFT7 = "http://json-schema.org/draft-07/schema#"


class Contract:
    """Validators for every event type of one AsyncAPI document."""

    def __init__(self, document):
        self.document = document
        self.pointers = self._payload_pointers()
        self._validators = {}

    # -- reading the document ---------------------------------------------------------------

    def _get(self, ref):
        node = self.document
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def _deref(self, node):
        while isinstance(node, dict) and "$ref" in node:
            node = self._get(node["$ref"])
        return node

    def _type_consts(self, schema):
        schema = self._deref(schema)
        found = set()
        if not isinstance(schema, dict):
            return found
        prop = self._deref(schema.get("properties", {}).get("type", {}))
        if isinstance(prop, dict) and "const" in prop:
            found.add(prop["const"])
        for sub in schema.get("allOf", []):
            found |= self._type_consts(sub)
        return found

    def _payload_pointers(self):
        """``{event type: JSON pointer of its payload schema}``."""
        pointers = {}
        for channel in self.document.get("channels", {}).values():
            for ref in channel.get("messages", {}).values():
                message = self._deref(ref)
                payload = message["payload"]
                pointer = payload["$ref"] if "$ref" in payload else f"{ref['$ref']}/payload"
                for event_type in self._type_consts({"$ref": pointer}):
                    pointers[event_type] = pointer
        return pointers

    def validator(self, event_type):
        """A compiled check of one type's payload schema (``fastjsonschema``: the schema
        becomes Python code once, so a check costs microseconds, not a schema walk)."""
        found = self._validators.get(event_type)
        if found is None:
            root = {"$schema": DRAFT7, "components": self.document.get("components", {}),
                    "$ref": self.pointers[event_type]}
            found = fastjsonschema.compile(root)
            self._validators[event_type] = found
        return found

    # -- checking an event ------------------------------------------------------------------

    def problems(self, body):
        """What is wrong with ``body`` as an event of this contract; [] when nothing is."""
        if not isinstance(body, dict):
            return [f"the body is {type(body).__name__ if body is not None else 'null'}, "
                    f"not a CloudEvent object"]
        event_type = body.get("type")
        if not isinstance(event_type, str):
            return ["type: missing or not a string"]
        if event_type not in self.pointers:
            return [f"type: {event_type[:120]!r} is not an event type of the contract"]
        try:
            self.validator(event_type)(body)
        except fastjsonschema.JsonSchemaValueException as exc:
            path = "/".join(str(p) for p in (exc.path or [])[1:]) or "<root>"
            return [f"{path}: {exc.message[:200]}"]
        return _unparseable_times(body)

    def is_valid(self, body):
        return not self.problems(body)


def _parses(value):
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _unparseable_times(body):
    """A pattern admits "2026-13-45T99:00:00.000Z": each time must also be a real one."""
    found = [] if _parses(body["time"]) else ["time: not a real date and time"]
    data = body.get("data") or {}
    found += [f"data/{key}: not a real date and time" for key, value in data.items()
              if key.endswith("_at") and isinstance(value, str) and not _parses(value)]
    return found


@functools.cache
def _load(path):
    return Contract(yaml.safe_load(Path(path).read_text(encoding="utf-8")))


def contract(config=None):
    """The contract of ``EVENT_CONTRACT_FILE`` (or the source tree's), read once."""
    return _load(str(setting("EVENT_CONTRACT_FILE", config) or DEFAULT_FILE))
