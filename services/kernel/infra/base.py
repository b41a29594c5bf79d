"""The base class of every Antre service: ``GET /health``, the configuration, and who is
behind a request."""

from nameko.dependency_providers import Config

from services.kernel import auth
from services.kernel.infra.health import HealthMixin


class AntreService(HealthMixin):
    """Subclass it with a ``name`` and a ``repository`` (whose ``db`` the health check
    pings); ``self.config`` is the service's configuration (nameko's config file with
    the environment filled in).

    Entrypoints ask :meth:`authenticate` or :meth:`require` who is calling: the kernel's
    checks (:mod:`services.kernel.auth`) plus the catalog's revocations, so a
    deactivated account or a revoked device is refused here within seconds. The
    revocations come from :meth:`access_source`: by default the service's ``catalog``
    (:class:`~services.kernel.catalog.CatalogClient`); the catalog itself answers from
    its own store. A service that takes API keys sets ``accepts_api_keys``.
    """

    config = Config()
    accepts_api_keys = False

    def access_source(self):
        """What answers ``revoked(claims)`` and ``verify_api_key(key)``."""
        return self.catalog

    def _checks(self):
        source = self.access_source()
        return {"api_keys": self.api_key_check(source) if self.accepts_api_keys else None,
                "revoked": source.revoked}

    def api_key_check(self, source):
        """``key -> Principal or None`` (a service that takes API keys gives it)."""
        raise NotImplementedError

    def authenticate(self, request):
        """The caller's principal, or None for a request without a credential."""
        return auth.authenticate(request, self.config, **self._checks())

    def require(self, request, *roles):
        """The caller's principal if its role is one of ``roles`` (admins always are);
        with no roles, only an admin's."""
        return auth.require(request, self.config, *roles, **self._checks())
