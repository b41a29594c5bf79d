"""Request access: who is behind a request's credential, and whether they may act.

A request carries ``Authorization: Bearer <credential>``: a signed token
(:mod:`services.kernel.tokens`), an API key (``ak_<id>_<secret>``, stored only as a
scrypt hash, :mod:`services.kernel.passwords`), or ``ADMIN_TOKEN``, the bootstrap
credential of the first admin. With neither ``ADMIN_TOKEN`` nor ``AUTH_SECRET`` set,
every request is treated as an admin's: development only, and the services say so at
start-up.
"""

import hmac
import logging

from services.kernel.config import setting
from services.kernel.errors import Forbidden, Unauthorized
from services.kernel.tokens import Principal, principal_of, verify

log = logging.getLogger(__name__)


def is_open(config):
    return not setting("ADMIN_TOKEN", config) and not setting("AUTH_SECRET", config)


def authenticate(request, config, api_keys=None, revoked=None):
    """The principal behind the request's bearer credential, or None without one.

    ``api_keys(key)`` resolves an API key to a principal (the reporting service asks
    the catalog); ``revoked(claims)`` says whether a token (or an API key, as
    ``{"sub": <its subject>}``) has been revoked (:mod:`services.kernel.revocation`).
    A bad, expired or revoked credential is :class:`Unauthorized`. In open
    development mode (no ``AUTH_SECRET``, no ``ADMIN_TOKEN``) a request without a
    credential acts as an admin, but a credential sent is still checked: no made-up
    string passes for a key or a token.
    """
    header = request.headers.get("Authorization", "")
    if is_open(config) and not header:
        return Principal("development", "admin")
    if not header:
        return None
    if not header.startswith("Bearer "):
        raise Unauthorized("Gunakan Authorization: Bearer <token>.")
    token = header[len("Bearer "):].strip()
    admin_token = setting("ADMIN_TOKEN", config)
    if admin_token and hmac.compare_digest(token.encode(), admin_token.encode()):
        return Principal("admin-token", "admin")
    if token.startswith("ak_"):
        principal = api_keys(token) if api_keys else None
        if principal is None or (revoked and revoked({"sub": principal.subject})):
            raise Unauthorized("Kunci API tidak sah.")
        return principal
    secret = setting("AUTH_SECRET", config)
    if not secret:
        raise Unauthorized("Token tidak sah (AUTH_SECRET belum diatur, tidak ada token yang "
                           "sah).")
    claims = verify(token, secret)
    if revoked and revoked(claims):
        raise Unauthorized("Token ini sudah dicabut; silakan masuk lagi.")
    return principal_of(claims)


def require(request, config, *roles, api_keys=None, revoked=None):
    """The request's principal if its role is one of ``roles`` (admins always are)."""
    principal = authenticate(request, config, api_keys, revoked)
    if principal is None:
        raise Unauthorized("Tindakan ini memerlukan login (Authorization: Bearer ...).")
    if not principal.is_admin and principal.role not in roles:
        raise Forbidden(f"Peran {principal.role} tidak boleh melakukan ini.",
                        role=principal.role)
    return principal


def require_admin(request, config, revoked=None):
    return require(request, config, revoked=revoked)


def warn_if_open(config, service_name):
    if is_open(config):
        log.warning("%s: neither ADMIN_TOKEN nor AUTH_SECRET is set; every request is "
                    "treated as an admin's (development only)", service_name)
    elif not setting("AUTH_SECRET", config):
        log.warning("%s: AUTH_SECRET is not set; only the ADMIN_TOKEN is accepted",
                    service_name)
