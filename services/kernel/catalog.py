"""The one client of the catalog that every other service uses.

What queue, notify and reporting read of the catalog (a site, a service, an agency, a
counter, a site's services, the agencies, the names of a site's agencies and services)
through one object, whatever answers behind it: ``CatalogClient`` over the catalog's
RPC (``services.kernel.infra.rpc.RpcClient("catalog")``) with a short-lived cache, or a
test fake with the same methods. ``tests/contract/test_catalog_client.py`` runs one set
of contract tests against both.

Plain Python: the RPC proxy and the cache are handed in.
"""

import hashlib
import time

LIST_LIMIT = 500  # the catalog's largest page; a site has at most a few hundred services


class TtlCache:
    """Values for a few seconds, shared by the workers of one container."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.entries = {}

    def get(self, key, load):
        hit = self.entries.get(key)
        now = time.monotonic()
        if hit and now - hit[0] < self.seconds:
            return hit[1]
        value = load()
        self.entries[key] = (now, value)
        return value


class CatalogReader:
    """One record of the catalog by its kind and code; an implementation answers
    :meth:`record` (records are dicts as the catalog's RPC answers them; an unknown code
    raises the catalog's ``NotFound``)."""

    def record(self, kind, code, fresh=False):
        """The record; ``fresh``: as the catalog has it now, never from a cache."""
        raise NotImplementedError

    def site(self, code):
        return self.record("sites", code)

    def service(self, code):
        return self.record("services", code)

    def agency(self, code):
        return self.record("agencies", code)

    def counter(self, code):
        return self.record("counters", code)

    def current_counter(self, code):
        """The counter as the catalog has it now (opening one must see it as it is)."""
        return self.record("counters", code, fresh=True)

    def revoked(self, claims):
        """Whether the catalog has revoked the token with ``claims``
        (:mod:`services.kernel.revocation`)."""
        raise NotImplementedError


class CatalogClient(CatalogReader):
    """The catalog as another service reads it, over the catalog's RPC. Reads are cached
    for ``CATALOG_CACHE_SECONDS`` except fresh ones (:meth:`current_counter`)."""

    def __init__(self, rpc, cache, revocations):
        self.rpc = rpc
        self.cache = cache
        self.revocations = revocations  # a RevocationList, one per process

    def revoked(self, claims):
        """Whether the catalog has revoked the token with ``claims`` (as this process
        knows it: at most ``REVOCATION_REFRESH_SECONDS`` old)."""
        return self.revocations.refuses(claims, self.rpc.revocations)

    def record(self, kind, code, fresh=False):
        if fresh:
            return self.rpc.get(kind, code)
        return self.cache.get(("record", kind, code), lambda: self.rpc.get(kind, code))

    def verify_api_key(self, key):
        """The catalog's answer for an API key (``{"subject", "role", "agency"}``, or None
        for an unknown key), remembered under the key's digest, never the key."""
        digest = hashlib.sha256(key.encode()).hexdigest()
        return self.cache.get(("api_key", digest), lambda: self.rpc.verify_api_key(key))

    def services_of_site(self, site):
        """The site's active services."""
        return self.cache.get(("services", site), lambda: self.rpc.list(
            "services", site=site, active=True, limit=LIST_LIMIT)["items"])

    def agencies(self):
        """The active agencies."""
        return self.cache.get(("agencies",), lambda: self.rpc.list(
            "agencies", active=True, limit=LIST_LIMIT)["items"])

    def names(self, site):
        """``{("agencies" | "services", code): name}`` of every agency and of the site's
        services, active or not (a report names what was served, even if retired)."""
        def load():
            names = {("agencies", item["code"]): item["name"]
                     for item in self.rpc.list("agencies", limit=LIST_LIMIT)["items"]}
            names.update({("services", item["code"]): item["name"]
                          for item in self.rpc.list("services", site=site,
                                                    limit=LIST_LIMIT)["items"]})
            return names
        return self.cache.get(("names", site), load)
