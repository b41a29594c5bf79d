"""A short-lived cache of what a service reads from another over RPC."""

from nameko.extensions import DependencyProvider

from services.kernel.catalog import TtlCache
from services.kernel.config import setting


class CatalogCache(DependencyProvider):
    """A :class:`TtlCache` of ``CATALOG_CACHE_SECONDS`` (default 15)."""

    def setup(self):
        self.cache = TtlCache(float(setting("CATALOG_CACHE_SECONDS", self.container.config)))

    def get_dependency(self, worker_ctx):
        return self.cache
