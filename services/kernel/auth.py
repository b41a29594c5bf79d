"""Shared tokens for write APIs (until per-role authentication exists).

When ``ADMIN_TOKEN`` is set, admin endpoints require ``Authorization: Bearer <token>``;
staff endpoints (counter actions) accept ``STAFF_TOKEN`` or ``ADMIN_TOKEN``. When no
token is set the API is open, which is only for development; services log a warning
at start-up in that case.
"""

import hmac
import logging

from services.kernel.config import setting
from services.kernel.errors import Unauthorized

log = logging.getLogger(__name__)


def _require(request, config, names, who):
    tokens = [setting(name, config) for name in names]
    tokens = [token for token in tokens if token]
    if not tokens:
        return
    given = request.headers.get("Authorization", "").encode()
    if not any(hmac.compare_digest(given, f"Bearer {token}".encode()) for token in tokens):
        raise Unauthorized(f"Tindakan ini memerlukan token {who} (Authorization: Bearer ...).")


def require_admin(request, config):
    _require(request, config, ("ADMIN_TOKEN",), "admin")


def require_staff(request, config):
    """Counter staff: ``STAFF_TOKEN`` (counter consoles) or ``ADMIN_TOKEN``."""
    _require(request, config, ("STAFF_TOKEN", "ADMIN_TOKEN"), "staff")


def warn_if_open(config, service_name):
    if not setting("ADMIN_TOKEN", config):
        log.warning("%s: ADMIN_TOKEN is not set; the admin API is open to anyone", service_name)
