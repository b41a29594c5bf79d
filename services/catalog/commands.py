"""What the catalog can be asked to do to its entities: parse, validate, plan, write.

Entry points (RPC, HTTP, the seed command, start-up seeding) call these and
nothing else writes sites, agencies, services or counters (people, devices and keys
are :mod:`services.catalog.staff`). Every problem is reported at once and nothing is
written unless the whole request is valid. A write answers with what it wrote.
"""

import json
from pathlib import Path

import yaml
from marshmallow import ValidationError

from services.catalog.domain import KINDS, SINGULAR
from services.catalog.schemas import DocumentHeaderSchema, entity_schema
from services.kernel.errors import InvalidInput
from services.kernel.validation import check_document, flatten

SAMPLE = Path(__file__).parent / "sample" / "banyuwangi.yaml"


def parse_document(raw, content_type=""):
    """A catalog document from JSON or YAML text (YAML is a superset of JSON)."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput({"_body": ["Dokumen harus berupa teks UTF-8."]}) from None
    try:
        if "json" in (content_type or ""):
            document = json.loads(raw)
        else:
            document = yaml.safe_load(raw)
    except RecursionError:
        raise InvalidInput({"_body": ["Dokumen bersarang terlalu dalam."]}) from None
    except (ValueError, yaml.YAMLError) as exc:
        raise InvalidInput({"_body": [f"Dokumen tidak dapat dibaca: {exc}"]}) from None
    if not isinstance(document, dict):
        raise InvalidInput({"_body": ["Dokumen harus berupa pemetaan berisi sites, agencies, "
                                      "services dan counters."]})
    problem = check_document(document)
    if problem:
        raise InvalidInput({"_body": [problem]})
    return document


# Fields whose partial values are not safe to check further when they failed validation.
UNCHECKABLE = ("opening_hours", "closed_dates", "services")


def load_lenient(schema, raw, prefix=""):
    """``(data, problems)``: what passed the schema, and every problem found.

    When ``raw`` fails validation, ``data`` holds only the fields that passed, so the
    catalog's own rules can still be checked on them and every problem reported at once.
    """
    if not isinstance(raw, dict):
        return None, {prefix or "_schema": ["Harus berupa objek."]}
    try:
        return schema.load(raw), {}
    except ValidationError as exc:
        problems = flatten(exc.messages, prefix)
        data = exc.valid_data if isinstance(exc.valid_data, dict) else {}
        for name in UNCHECKABLE:
            if any(p.startswith(f"{prefix}.{name}" if prefix else name) for p in problems):
                data.pop(name, None)
        return data, problems


def load_document(document):
    """A catalog document entity by entity: ``(data, problems)``."""
    top = {k: v for k, v in document.items() if k not in KINDS}
    data, problems = load_lenient(DocumentHeaderSchema(), top)
    data = data or {}
    for kind in KINDS:
        items = document.get(kind) or []
        if not isinstance(items, list):
            problems[kind] = ["Harus berupa daftar."]
            items = []
        schema = entity_schema(kind)
        data[kind] = []
        for i, raw in enumerate(items):
            entity, found = load_lenient(schema, raw, f"{kind}.{i}")
            data[kind].append(entity)
            problems.update(found)
    return data, problems


def import_catalog(repository, document, mode="merge", dry_run=False, principal=None):
    """Make the catalog hold ``document``; returns a summary of what changed."""
    data, problems = load_document(document)
    changes = repository.load().plan_import(data, mode=mode, invalid=problems)
    if not dry_run:
        repository.apply(changes, principal)
    summary = {action: 0 for action in ("created", "updated", "deactivated", "activated")}
    for change in changes:
        summary[change.action] += 1
    return {
        "mode": mode,
        "dry_run": dry_run,
        "counts": {kind: len(data[kind]) for kind in KINDS},
        "changes": summary,
        "changed": [{"kind": SINGULAR[c.kind], "code": c.code, "action": c.action,
                     "fields": c.changed} for c in changes],
    }


def load_sample(repository):
    return import_catalog(repository, parse_document(SAMPLE.read_text(encoding="utf-8")))


def create(repository, kind, raw, principal=None):
    """The entity created (as written)."""
    entity, problems = load_lenient(entity_schema(kind), raw)
    if not (entity or {}).get("code"):
        raise InvalidInput(problems)
    changes = repository.load().plan_create(kind, entity, invalid=problems)
    repository.apply(changes, principal)
    return changes[0].entity


def update(repository, kind, code, raw, principal=None):
    """The entity after the update (as written; unchanged when nothing differs)."""
    fields, problems = load_lenient(entity_schema(kind, partial=True), raw)
    catalog = repository.load()
    changes = catalog.plan_update(kind, code, fields or {}, invalid=problems)
    repository.apply(changes, principal)
    return changes[0].entity if changes else catalog.get(kind, code)


def set_active(repository, kind, code, active, principal=None):
    """The entity after the change (as written; unchanged when it already was so)."""
    catalog = repository.load()
    changes = catalog.plan_set_active(kind, code, active)
    repository.apply(changes, principal)
    return changes[0].entity if changes else catalog.get(kind, code)
