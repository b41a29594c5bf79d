"""A short-lived cache of what a service reads from another over RPC."""

import time

from nameko.extensions import DependencyProvider

from services.kernel.config import setting


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


class CatalogCache(DependencyProvider):
    """A :class:`TtlCache` of ``CATALOG_CACHE_SECONDS`` (default 15)."""

    def setup(self):
        self.cache = TtlCache(float(setting("CATALOG_CACHE_SECONDS", self.container.config)))

    def get_dependency(self, worker_ctx):
        return self.cache
