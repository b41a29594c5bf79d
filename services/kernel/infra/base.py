"""The base class of every Antre service: ``GET /health`` and the configuration."""

from nameko.dependency_providers import Config

from services.kernel.infra.health import HealthMixin


class AntreService(HealthMixin):
    """Subclass it with a ``name`` and a ``repository`` (whose ``db`` the health check
    pings); ``self.config`` is the service's configuration (nameko's config file with
    the environment filled in)."""

    config = Config()
