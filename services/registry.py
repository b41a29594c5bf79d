"""The one list of Antre's services: what `make run`, the demo, the benchmark, the compose
checks and the tests read to know which services exist, how to start them and where
they listen. A new service is one entry here plus its folder under ``services/``.

Plain data: importing this module starts nothing and imports no service.
"""

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceEntry:
    name: str  # the nameko service name, its folder, its database suffix and its URL path
    class_name: str  # the nameko service class in ``services/<name>/service.py``
    port: int  # the HTTP port in development (``<NAME>_HTTP_ADDRESS`` sets another)

    @property
    def module(self):
        return f"services.{self.name}.service"

    @property
    def target(self):
        """What ``nameko run`` takes: ``services.queue.service:QueueService``."""
        return f"{self.module}:{self.class_name}"

    @property
    def config_file(self):
        """The service's nameko configuration (values from the environment)."""
        return f"deploy/config/{self.name}.yaml"

    @property
    def address_variable(self):
        """The environment variable that sets where its HTTP server listens."""
        return f"{self.name.upper()}_HTTP_ADDRESS"

    @property
    def public_url_variable(self):
        """The environment variable that tells pages where its HTTP API is reached."""
        return f"PUBLIC_{self.name.upper()}_URL"

    @property
    def url_path(self):
        """Its prefix behind the gateway: ``/api/queue/``."""
        return f"/api/{self.name}/"

    def database(self, prefix="antre_"):
        """The one database it owns: ``antre_queue``."""
        return f"{prefix}{self.name}"

    def load(self):
        """The service class (imports the service, and so nameko)."""
        return getattr(importlib.import_module(self.module), self.class_name)


SERVICES = (
    ServiceEntry("catalog", "CatalogService", 8001),
    ServiceEntry("queue", "QueueService", 8002),
    ServiceEntry("notify", "NotifyService", 8003),
    ServiceEntry("reporting", "ReportingService", 8004),
)

BY_NAME = {entry.name: entry for entry in SERVICES}


def names():
    return [entry.name for entry in SERVICES]


def entry(name):
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"no service {name!r}; Antre's services are {', '.join(names())}") \
            from None
