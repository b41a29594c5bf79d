"""The catalog's rules, in plain Python with no I/O.

A :class:`Catalog` is every site, agency, service and counter, keyed by code.
Changes are planned against it (``plan_*``), validated as a whole (every problem
at once, keyed by a path such as ``services.12.agency``), and described as a list
of :class:`Change` records the repository writes and turns into events.
"""

from dataclasses import dataclass, field

from services.kernel import hours
from services.kernel.errors import Conflict, InvalidInput, NotFound
from services.kernel.events import Event
from services.kernel.text import fold

KINDS = ("sites", "agencies", "services", "counters")
SINGULAR = {"sites": "site", "agencies": "agency", "services": "service", "counters": "counter"}
KIND_OF = {singular: kind for kind, singular in SINGULAR.items()}
# What operators read: the kinds in Bahasa Indonesia.
NAME = {"sites": "MPP", "agencies": "instansi", "services": "layanan", "counters": "loket"}
SEARCHED = {
    "sites": ("code", "name", "address"),
    "agencies": ("code", "name"),
    "services": ("code", "name", "product", "ticket_prefix"),
    "counters": ("code", "name", "zone"),
}


def search_text(kind, entity):
    return fold(" ".join(str(entity.get(f) or "") for f in SEARCHED[kind]))


@dataclass
class Change:
    """One entity's new state, and why it changed."""

    kind: str
    code: str
    action: str  # created | updated | deactivated | activated
    entity: dict
    changed: list = field(default_factory=list)
    before: dict | None = None  # the entity before the change (None when created)

    def event(self):
        agency = None
        if self.kind == "agencies":
            agency = self.code
        elif self.kind in ("services", "counters"):
            agency = self.entity["agency"]
        site = self.entity.get("site") if self.kind != "sites" else self.code
        return Event(
            entity="catalog",
            action=f"{SINGULAR[self.kind]}_{self.action}",
            subject=f"{self.kind}/{self.code}",
            site=site,
            agency=agency,
            data={
                "kind": SINGULAR[self.kind],
                "code": self.code,
                "changed": self.changed,
                SINGULAR[self.kind]: self.entity,
            },
        )


def diff(kind, code, before, after):
    """The :class:`Change` from ``before`` (None: new) to ``after``, or None if equal."""
    if before is None:
        return Change(kind, code, "created", after, sorted(after))
    changed = sorted(k for k in after if after.get(k) != before.get(k))
    if not changed:
        return None
    action = "updated"
    if changed == ["active"]:
        action = "activated" if after["active"] else "deactivated"
    return Change(kind, code, action, after, changed, before)


class Catalog:
    def __init__(self, sites=(), agencies=(), services=(), counters=()):
        self.entities = {
            "sites": {e["code"]: dict(e) for e in sites},
            "agencies": {e["code"]: dict(e) for e in agencies},
            "services": {e["code"]: dict(e) for e in services},
            "counters": {e["code"]: dict(e) for e in counters},
        }

    def get(self, kind, code):
        entity = self.entities[kind].get(code)
        if entity is None:
            raise NotFound(f"Tidak ada {NAME[kind]} dengan kode {code!r}.", kind=SINGULAR[kind],
                           code=code)
        return entity

    def copy(self):
        return Catalog(**{k: list(v.values()) for k, v in self.entities.items()})

    # -- validation -------------------------------------------------------------------

    def problems(self, paths=None):
        """Every rule the catalog breaks, as {path: [messages]}.

        ``paths`` maps (kind, code) to the path used in messages (for an import, the
        entity's position in the document; for a single entity, "" so that paths are its
        field names); by default ``<kind>.<code>``. Entities may be partial (fields that
        failed schema validation are absent): rules about absent fields are skipped.
        """
        paths = paths or {}
        found = {}

        def where(kind, code, attr):
            base = paths.get((kind, code), f"{kind}.{code}")
            return f"{base}.{attr}" if base else attr

        def add(path, message):
            found.setdefault(path, []).append(message)

        def refers(kind, code, attr, target_kind, entity):
            value = entity.get(attr)
            if value is not None and value not in self.entities[target_kind]:
                add(where(kind, code, attr), f"{NAME[target_kind].capitalize()} {value!r} tidak dikenal.")

        sites, services = self.entities["sites"], self.entities["services"]
        for code, site in sites.items():
            for path, message in hours.problems(site):
                add(where("sites", code, path), message)
        prefixes = {}
        # Entities not being written claim their prefix first, so a clash is reported on
        # the entity being written.
        claim_order = sorted(services.items(),
                             key=lambda kv: (("services", kv[0]) in paths, where("services", kv[0], "")))
        for code, service in claim_order:
            refers("services", code, "agency", "agencies", service)
            refers("services", code, "site", "sites", service)
            if service.get("ticket_prefix") is None or service.get("site") is None:
                continue
            key = (service["site"], service["ticket_prefix"])
            if key in prefixes:
                add(where("services", code, "ticket_prefix"),
                    f"Awalan nomor antrean {service['ticket_prefix']!r} sudah dipakai layanan "
                    f"{prefixes[key]!r} di MPP {service['site']!r}.")
            else:
                prefixes[key] = code
        for code, counter in self.entities["counters"].items():
            refers("counters", code, "agency", "agencies", counter)
            refers("counters", code, "site", "sites", counter)
            listed = counter.get("services") or []
            for i, service_code in enumerate(listed):
                service = services.get(service_code)
                path = where("counters", code, f"services.{i}")
                if service is None:
                    add(path, f"Layanan {service_code!r} tidak dikenal.")
                elif counter.get("agency") and service.get("agency") != counter["agency"]:
                    add(path, f"Layanan {service_code!r} milik instansi "
                              f"{service.get('agency')!r}, bukan {counter['agency']!r}.")
                elif counter.get("site") and service.get("site") != counter["site"]:
                    add(path, f"Layanan {service_code!r} ada di MPP "
                              f"{service.get('site')!r}, bukan {counter['site']!r}.")
            if len(set(listed)) != len(listed):
                add(where("counters", code, "services"), "Ada layanan yang tercantum dua kali.")
        return found

    def check(self, paths=None, known=None):
        """Raise :class:`InvalidInput` with ``known`` problems plus every rule broken."""
        found = {path: list(messages) for path, messages in (known or {}).items()}
        for path, messages in self.problems(paths).items():
            found.setdefault(path, []).extend(messages)
        if found:
            raise InvalidInput(found, message=f"Ditemukan {sum(map(len, found.values()))} masalah.")

    # -- planning changes -------------------------------------------------------------
    #
    # ``invalid`` carries the schema problems of the request: the entity then holds only
    # the fields that passed, the rules are checked on those, and all problems are
    # reported together.

    def plan_create(self, kind, entity, invalid=None):
        if entity["code"] in self.entities[kind]:
            raise Conflict(f"{NAME[kind].capitalize()} dengan kode {entity['code']!r} sudah ada.",
                           kind=SINGULAR[kind], code=entity["code"])
        after = self.copy()
        after.entities[kind][entity["code"]] = entity
        after.check({(kind, entity["code"]): ""}, invalid)
        return [Change(kind, entity["code"], "created", entity, sorted(entity))]

    def plan_update(self, kind, code, fields_, invalid=None):
        before = self.get(kind, code)
        entity = {**before, **fields_, "code": code}
        after = self.copy()
        after.entities[kind][code] = entity
        after.check({(kind, code): ""}, invalid)
        change = diff(kind, code, before, entity)
        return [change] if change else []

    def plan_set_active(self, kind, code, active):
        return self.plan_update(kind, code, {"active": active})

    def plan_import(self, document, mode="merge", invalid=None):
        """Changes that make the catalog hold ``document``.

        ``merge`` creates and updates what the document lists and leaves the rest;
        ``replace`` also deactivates what it does not list (nothing is ever deleted:
        tickets and reports refer to codes). Entities without a valid code are skipped
        (their problems are in ``invalid``).
        """
        found = {path: list(messages) for path, messages in (invalid or {}).items()}
        paths = {}
        listed = {kind: [(i, e) for i, e in enumerate(document.get(kind) or [])
                         if e and e.get("code")] for kind in KINDS}
        for kind in KINDS:
            seen = {}
            for i, entity in listed[kind]:
                code = entity["code"]
                if code in seen:
                    found.setdefault(f"{kind}.{i}.code", []).append(
                        f"Kode {NAME[kind]} {code!r} ganda (juga di {kind}.{seen[code]}).")
                else:
                    seen[code] = i
                    paths[(kind, code)] = f"{kind}.{i}"
        after = self.copy()
        for kind in KINDS:
            codes = {e["code"] for _, e in listed[kind]}
            if mode == "replace":
                for code, entity in after.entities[kind].items():
                    if code not in codes and entity.get("active", True):
                        after.entities[kind][code] = {**entity, "active": False}
            for _, entity in listed[kind]:
                after.entities[kind][entity["code"]] = dict(entity)
        after.check(paths, found)
        changes = (
            diff(kind, code, self.entities[kind].get(code), entity)
            for kind in KINDS
            for code, entity in after.entities[kind].items()
        )
        return [change for change in changes if change is not None]

    def export(self):
        return {"version": 1, **{k: [self.entities[k][c] for c in sorted(self.entities[k])]
                                 for k in KINDS}}
