"""The catalog as a dependency: every service that reads the catalog declares
``catalog = Catalog()`` and gets the one :class:`~services.kernel.catalog.CatalogClient`,
RPC to the catalog service behind a cache of ``CATALOG_CACHE_SECONDS`` shared by the
container's workers, and the one list of revoked tokens of the process
(:class:`~services.kernel.revocation.RevocationList`). A test hands in
:class:`antre_devtools.fakes.FakeCatalog` instead."""

from services.kernel.catalog import CatalogClient, TtlCache
from services.kernel.config import setting
from services.kernel.infra.rpc import RpcClient
from services.kernel.revocation import RevocationList


class Catalog(RpcClient):
    def __init__(self, **kwargs):
        super().__init__("catalog", **kwargs)

    def setup(self):
        super().setup()
        config = self.container.config
        self.cache = TtlCache(float(setting("CATALOG_CACHE_SECONDS", config)))
        self.revocations = RevocationList(float(setting("REVOCATION_REFRESH_SECONDS", config)))

    def get_dependency(self, worker_ctx):
        return CatalogClient(super().get_dependency(worker_ctx), self.cache, self.revocations)
