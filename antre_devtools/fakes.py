"""The in-memory fake of the catalog client (``services.kernel.catalog.CatalogClient``): the
same methods and answers over in-memory records. ``tests/contract/test_catalog_client.py``
runs the same contract against it and against the real client over RPC."""

import copy

from services.kernel.catalog import CatalogReader
from services.kernel.errors import NotFound
from services.kernel.revocation import refused

KINDS = {"sites": "site", "agencies": "agency", "services": "service", "counters": "counter"}


class FakeCatalog(CatalogReader):
    def __init__(self, sites=(), services=(), counters=(), agencies=(), api_keys=None):
        self.records = {kind: {r["code"]: copy.deepcopy(r) for r in records}
                        for kind, records in (("sites", sites), ("services", services),
                                              ("counters", counters), ("agencies", agencies))}
        self.api_keys = dict(api_keys or {})  # key -> the catalog's answer for it
        self.asked_keys = []
        self.valid_from = {}  # subject -> lowest accepted token generation (revocations)

    @classmethod
    def from_document(cls, document):
        """From a catalog import document (``{"sites": [...], "agencies": [...], ...}``)."""
        return cls(**{kind: document.get(kind, ()) for kind in KINDS})

    def record(self, kind, code, fresh=False):
        table = self.records[kind]
        if code not in table:
            name = KINDS[kind]
            raise NotFound(f"No {name} with code {code!r}.", kind=name, code=code)
        return copy.deepcopy(table[code])

    def verify_api_key(self, key):
        self.asked_keys.append(key)
        answer = self.api_keys.get(key)
        return dict(answer) if answer else None

    def revoked(self, claims):
        return refused(claims, self.valid_from.get(claims.get("sub")))

    def services_of_site(self, site):
        return [copy.deepcopy(s) for s in self.records["services"].values()
                if s["site"] == site and s.get("active", True)]

    def agencies(self):
        return [copy.deepcopy(a) for a in self.records["agencies"].values()
                if a.get("active", True)]

    def names(self, site):
        names = {("agencies", a["code"]): a["name"] for a in self.records["agencies"].values()}
        names.update({("services", s["code"]): s["name"]
                      for s in self.records["services"].values() if s["site"] == site})
        return names

    # -- what a test changes, as an admin would in the catalog ----------------------------

    def revoke(self, subject, valid_from=1):
        """Refuse ``subject``'s tokens of a generation below ``valid_from``."""
        self.valid_from[subject] = valid_from

    def put(self, kind, record):
        self.records[kind][record["code"]] = copy.deepcopy(record)
