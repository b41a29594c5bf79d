"""``GET /health`` for every service: liveness plus a database check."""

from services.kernel.infra.http import http, json_response
from services.kernel.infra.mongo import ping


class HealthMixin:
    """Mix into a nameko service class that has a ``repository`` with a ``db``."""

    @http("GET", "/health")
    def health(self, request):
        database_ok = ping(self.repository.db)
        body = {"service": self.name, "status": "ok" if database_ok else "degraded",
                "database": "ok" if database_ok else "unreachable"}
        return json_response(body, status=200 if database_ok else 503)
