"""The catalog's persistence: one collection per kind, plus a redo log for imports.

Every entity document is ``_id = code``, the public fields, and bookkeeping
(``_search``, ``revision``, ``updated_at``, ``last_change``, ``outbox``). A single
change is one atomic ``update_one`` that writes the entity and appends its event to
the same document's outbox. A change of many entities (an import) is first written
whole to ``changes`` (one atomic insert); each entity update is then applied at
most once (guarded by ``last_change``) and the change marked applied. A crash in
the middle leaves the change pending, and :meth:`recover` finishes it at start-up.
"""

import uuid
from datetime import UTC, datetime

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from services.catalog.domain import KINDS, NAME, SINGULAR, Catalog, Change, search_text
from services.kernel.errors import Conflict
from services.kernel.events import utcnow
from services.kernel.infra import ratelimit
from services.kernel.infra.audit import audit
from services.kernel.infra.outbox import OUTBOX, outbox_entries
from services.kernel.text import search_filter

SOURCE = "/antre/catalog"
PRIVATE = ("_id", "_search", "revision", "updated_at", "created_at", "last_change", OUTBOX)
CHANGES = "changes"
LOGIN_FAILURES = "login_failures"  # lockout state per account and per client address
REVOCATIONS = "revocations"  # subject -> lowest accepted token generation (kernel.revocation)


def public(doc):
    return {k: v for k, v in doc.items() if k not in PRIVATE}


class CatalogRepository:
    def __init__(self, db, source=SOURCE):
        self.db = db
        self.source = source

    def ensure_indexes(self):
        for kind in KINDS:
            self.db[kind].create_index([("active", ASCENDING)])
        for kind in ("services", "counters"):
            self.db[kind].create_index([("site", ASCENDING), ("agency", ASCENDING)])
        self.db.services.create_index([("site", ASCENDING), ("ticket_prefix", ASCENDING)])
        self.db.counters.create_index([("services", ASCENDING)])
        self.db[CHANGES].create_index([("status", ASCENDING)])
        self.db[LOGIN_FAILURES].create_index([("expires_at", ASCENDING)], expireAfterSeconds=0)
        self.db[REVOCATIONS].create_index([("changed", ASCENDING)])
        self.db[REVOCATIONS].create_index([("expires", ASCENDING)])
        self.db[REVOCATIONS].create_index([("expires_at", ASCENDING)], expireAfterSeconds=0)

    def outbox_collections(self):
        return [self.db[kind] for kind in KINDS]

    # -- reads --------------------------------------------------------------------------

    def load(self):
        return Catalog(**{kind: [public(d) for d in self.db[kind].find()] for kind in KINDS})

    def is_empty(self):
        return all(self.db[kind].count_documents({}, limit=1) == 0 for kind in KINDS)

    def get(self, kind, code):
        doc = self.db[kind].find_one({"_id": code})
        return public(doc) if doc else None

    def audit_entries(self, limit):
        return list(self.db.audit.find({}, {"_id": 0}).sort("at", -1).limit(limit))

    def find(self, kind, filters, limit, offset):
        query = {}
        if filters.get("q"):
            query.update(search_filter("_search", filters["q"]))
        if filters.get("active") is not None:
            query["active"] = filters["active"]
        for name in ("site", "agency", "kind"):
            if filters.get(name):
                query[name] = filters[name]
        if filters.get("service"):
            query["services"] = filters["service"]
        if filters.get("counter"):
            counter = self.db.counters.find_one({"_id": filters["counter"]}, {"services": 1})
            query["_id"] = {"$in": counter["services"] if counter else []}
        total = self.db[kind].count_documents(query)
        cursor = self.db[kind].find(query).sort("_id", ASCENDING).skip(offset).limit(limit)
        return [public(d) for d in cursor], total

    # -- writes -------------------------------------------------------------------------

    def apply(self, changes, principal=None):
        """Write ``changes`` with their events; all of them or (after recovery) none.
        With a ``principal``, each change is then written to the audit log."""
        if not changes:
            return
        change_id = uuid.uuid4().hex
        if len(changes) == 1:
            self._apply_one(change_id, changes[0])
        else:
            self.db[CHANGES].insert_one({
                "_id": change_id,
                "status": "pending",
                "created_at": utcnow(),
                "changes": [vars(c) for c in changes],
            })
            self._finish(change_id, changes)
        if principal is not None:
            for change in changes:
                audit(self.db.audit, principal, f"{SINGULAR[change.kind]}_{change.action}",
                      {"kind": SINGULAR[change.kind], "code": change.code},
                      change.before, change.entity)

    def recover(self):
        """Finish every change that a crash left half applied; returns how many."""
        pending = list(self.db[CHANGES].find({"status": "pending"}).sort("created_at", ASCENDING))
        for record in pending:
            self._finish(record["_id"], [Change(**c) for c in record["changes"]])
        return len(pending)

    def _finish(self, change_id, changes):
        for change in changes:
            # An import is authoritative: an entity created meanwhile is overwritten.
            self._apply_one(change_id, change, overwrite_existing=True)
        self.db[CHANGES].update_one(
            {"_id": change_id}, {"$set": {"status": "applied", "applied_at": utcnow()}}
        )

    def _apply_one(self, change_id, change, overwrite_existing=False):
        """Write one change and its event atomically, at most once per ``change_id``."""
        now = utcnow()
        collection = self.db[change.kind]
        bookkeeping = {
            "_search": search_text(change.kind, change.entity),
            "updated_at": now,
            "last_change": change_id,
        }
        entries = outbox_entries([change.event()], self.source)
        fields = change.entity
        if change.action == "created":
            try:
                collection.insert_one({"_id": change.code, **change.entity, **bookkeeping,
                                       "created_at": now, "revision": 1, OUTBOX: entries})
                return
            except DuplicateKeyError:
                current = collection.find_one({"_id": change.code}, {"last_change": 1})
                if current and current.get("last_change") == change_id:
                    return  # applied before a crash; this is the redo
                if not overwrite_existing:
                    raise Conflict(f"{NAME[change.kind].capitalize()} dengan kode {change.code!r} "
                                   f"sudah ada.",
                                   code=change.code) from None
        else:
            # Only what changed, so concurrent edits of other fields are kept.
            fields = {k: change.entity[k] for k in change.changed}
        collection.update_one(
            {"_id": change.code, "last_change": {"$ne": change_id}},
            {"$set": {**fields, **bookkeeping}, "$inc": {"revision": 1},
             "$push": {OUTBOX: {"$each": entries}}},
        )

    # -- staff: accounts, devices and API keys (``services.catalog.staff``) -------------

    def add_account(self, doc):
        """Store a new account; False when one of that name exists already."""
        try:
            self.db.accounts.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    def account(self, username):
        return self.db.accounts.find_one({"_id": username})

    def set_account_active(self, username, active):
        self.db.accounts.update_one({"_id": username}, {"$set": {"active": active}})

    def accounts(self, agency=None):
        """Every account, or one agency's, by name."""
        query = {} if agency is None else {"agency": agency}
        return list(self.db.accounts.find(query).sort("_id"))

    def add_device(self, doc):
        self.db.devices.insert_one(doc)

    def device(self, device_id):
        return self.db.devices.find_one({"_id": device_id})

    def devices(self):
        return list(self.db.devices.find().sort("created_at", ASCENDING))

    def mark_device_revoked(self, device_id, at, by):
        self.db.devices.update_one({"_id": device_id, "revoked_at": None},
                                   {"$set": {"revoked_at": at, "revoked_by": by}})

    def add_api_key(self, doc):
        self.db.api_keys.insert_one(doc)

    def api_key(self, key_id):
        return self.db.api_keys.find_one({"_id": key_id})

    def api_keys(self):
        return list(self.db.api_keys.find().sort("created_at", ASCENDING))

    def active_api_key(self, key_id):
        return self.db.api_keys.find_one({"_id": key_id, "active": True})

    def deactivate_api_key(self, key_id, at, by):
        self.db.api_keys.update_one({"_id": key_id, "active": True},
                                    {"$set": {"active": False, "revoked_at": at,
                                              "revoked_by": by}})

    # -- revoked tokens (``services.kernel.revocation``) --------------------------------

    def token_floor(self, subject):
        """The lowest token generation of ``subject`` still accepted (0: no entry)."""
        doc = self.db[REVOCATIONS].find_one({"_id": subject}, {"valid_from": 1})
        return doc["valid_from"] if doc else 0

    def revoke(self, subject, now, lasts_seconds, every_token=False):
        """Refuse ``subject``'s tokens handed out so far: raise its lowest accepted
        generation by one, or (``every_token``: a device or an API key, whose tokens are
        all of generation 0) to 1. Kept ``lasts_seconds`` (the longest such token's
        life); answers the lowest accepted generation now."""
        expires = now + lasts_seconds
        change = {"$max": {"valid_from": 1}} if every_token else {"$inc": {"valid_from": 1}}
        change.setdefault("$max", {}).update(
            {"expires": expires, "expires_at": datetime.fromtimestamp(expires, UTC)})
        change["$set"] = {"changed": now}
        doc = self.db[REVOCATIONS].find_one_and_update(
            {"_id": subject}, change, upsert=True, return_document=ReturnDocument.AFTER)
        return doc["valid_from"]

    def revocations(self, since, now):
        """The entries changed since ``since`` (epoch seconds), or every live one."""
        query = {"expires": {"$gt": now}} if since is None else {"changed": {"$gte": since}}
        return [{"subject": d["_id"], "valid_from": d["valid_from"], "expires_at": d["expires"]}
                for d in self.db[REVOCATIONS].find(query)]

    def login_failures(self, key):
        """The lockout state of ``key`` (``account:<name>``, ``address:<ip>``), or None."""
        return ratelimit.state(self.db[LOGIN_FAILURES], key)

    def change_login_failures(self, key, change, keep_seconds, now):
        """Replace ``key``'s lockout state with ``change(state)`` (atomically, for every
        process); kept ``keep_seconds`` after ``now``."""
        return ratelimit.change_state(self.db[LOGIN_FAILURES], key, change, keep_seconds, now)

    def forget_login_failures(self, key):
        ratelimit.forget(self.db[LOGIN_FAILURES], key)

    def write_audit(self, principal, action, target, before=None, after=None):
        """One entry of the audit log (who, what, on which record, before and after)."""
        audit(self.db.audit, principal, action, target, before, after)
