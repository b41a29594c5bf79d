"""A shared admin token for write APIs (until per-role authentication exists).

When ``ADMIN_TOKEN`` is set, admin endpoints require ``Authorization: Bearer <token>``.
When it is empty the admin API is open, which is only for development; services log
a warning at start-up in that case.
"""

import hmac
import logging

from services.kernel.config import setting
from services.kernel.errors import Unauthorized

log = logging.getLogger(__name__)


def require_admin(request, config):
    token = setting("ADMIN_TOKEN", config)
    if not token:
        return
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        raise Unauthorized("This action needs the admin token (Authorization: Bearer ...).")


def warn_if_open(config, service_name):
    if not setting("ADMIN_TOKEN", config):
        log.warning("%s: ADMIN_TOKEN is not set; the admin API is open to anyone", service_name)
