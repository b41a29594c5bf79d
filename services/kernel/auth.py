"""Who may do what: signed tokens, roles, slow hashes, and the audit log.

Roles:

* ``admin`` (the MPP operator): everything;
* ``agency_admin``: its own agency's webhooks and operator accounts; reads the reports
  (which cover every agency: the MPP's one view);
* ``operator``: bound to an agency and some of its counters: acts only there;
* ``kiosk`` and ``display``: devices of one site; a kiosk issues tickets, a display
  shows the hall's calls;
* ``report_viewer``: reads reports (an API key, e.g. for Grafana).

A token is ``v1.<payload>.<signature>``: the JSON claims (``sub``, ``role``, ``agency``,
``counters``, ``site``, ``exp``) in base64url, signed with HMAC-SHA256 under
``AUTH_SECRET``, which every service shares, so any service checks a token without
asking another. Tokens expire (``exp``). ``ADMIN_TOKEN`` is the bootstrap credential of
the first admin. API keys (``ak_<id>_<secret>``) and passwords are stored only as
scrypt hashes. With neither ``ADMIN_TOKEN`` nor ``AUTH_SECRET`` set, every request is
treated as an admin's: development only, and the services say so at start-up.
"""

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from dataclasses import dataclass, field

from services.kernel.config import setting
from services.kernel.errors import Forbidden, Unauthorized

log = logging.getLogger(__name__)

ROLES = ("admin", "agency_admin", "operator", "kiosk", "display", "report_viewer")
STAFF = ("operator", "agency_admin")


@dataclass(frozen=True)
class Principal:
    subject: str
    role: str
    agency: str | None = None
    counters: tuple = field(default_factory=tuple)
    site: str | None = None

    @property
    def is_admin(self):
        return self.role == "admin"

    def may_use_counter(self, counter):
        return self.is_admin or (self.role == "operator" and counter in self.counters)

    def in_agency(self, agency):
        return self.is_admin or (self.role in STAFF and self.agency == agency)

    def at_site(self, site):
        return self.is_admin or self.site in (None, site)

    def audit(self):
        return {"subject": self.subject, "role": self.role, "agency": self.agency}


# -- tokens -------------------------------------------------------------------------------

def _b64(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(claims, secret):
    payload = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    mac = hmac.new(secret.encode(), f"v1.{payload}".encode(), hashlib.sha256).digest()
    return f"v1.{payload}.{_b64(mac)}"


def verify(token, secret, now=None):
    """The claims of a valid, unexpired token; :class:`Unauthorized` otherwise."""
    try:
        version, payload, mac = token.split(".")
        expected = hmac.new(secret.encode(), f"{version}.{payload}".encode(), hashlib.sha256)
        if version != "v1" or not hmac.compare_digest(_unb64(mac), expected.digest()):
            raise ValueError("signature")
        claims = json.loads(_unb64(payload))
    except (ValueError, TypeError, UnicodeDecodeError):
        raise Unauthorized("Token tidak sah.") from None
    if claims.get("exp", 0) < (now or time.time()):
        raise Unauthorized("Token sudah kedaluwarsa; silakan masuk lagi.")
    if claims.get("role") not in ROLES:
        raise Unauthorized("Token tidak sah.")
    return claims


def issue_token(secret, subject, role, ttl_seconds, now=None, **claims):
    issued = int(now or time.time())
    return sign({"sub": subject, "role": role, "iat": issued, "exp": issued + int(ttl_seconds),
                 **{k: v for k, v in claims.items() if v not in (None, [], ())}}, secret)


def principal_of(claims):
    return Principal(subject=claims["sub"], role=claims["role"], agency=claims.get("agency"),
                     counters=tuple(claims.get("counters") or ()), site=claims.get("site"))


# -- slow hashes ------------------------------------------------------------------------------

SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1}


def hash_secret(text):
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(text.encode(), salt=salt, dklen=32, **SCRYPT)
    return f"scrypt${SCRYPT['n']}${SCRYPT['r']}${SCRYPT['p']}${_b64(salt)}${_b64(digest)}"


def check_secret(text, stored):
    try:
        _, n, r, p, salt, digest = stored.split("$")
        computed = hashlib.scrypt(text.encode(), salt=_unb64(salt), dklen=32, n=int(n), r=int(r),
                                  p=int(p))
    except (ValueError, AttributeError):
        return False
    return hmac.compare_digest(computed, _unb64(digest))


# -- requests -----------------------------------------------------------------------------------

def is_open(config):
    return not setting("ADMIN_TOKEN", config) and not setting("AUTH_SECRET", config)


def authenticate(request, config, api_keys=None):
    """The principal behind the request's bearer credential, or None without one.

    ``api_keys(key)`` resolves an API key to a principal (the reporting service asks
    the catalog); a bad or expired credential is :class:`Unauthorized`.
    """
    if is_open(config):
        return Principal("development", "admin")
    header = request.headers.get("Authorization", "")
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
        if principal is None:
            raise Unauthorized("Kunci API tidak sah.")
        return principal
    secret = setting("AUTH_SECRET", config)
    if not secret:
        raise Unauthorized("Token tidak sah.")
    return principal_of(verify(token, secret))


def require(request, config, *roles, api_keys=None):
    """The request's principal if its role is one of ``roles`` (admins always are)."""
    principal = authenticate(request, config, api_keys)
    if principal is None:
        raise Unauthorized("Tindakan ini memerlukan login (Authorization: Bearer ...).")
    if not principal.is_admin and principal.role not in roles:
        raise Forbidden(f"Peran {principal.role} tidak boleh melakukan ini.",
                        role=principal.role)
    return principal


def require_admin(request, config):
    return require(request, config)


def warn_if_open(config, service_name):
    if is_open(config):
        log.warning("%s: neither ADMIN_TOKEN nor AUTH_SECRET is set; every request is "
                    "treated as an admin's (development only)", service_name)
    elif not setting("AUTH_SECRET", config):
        log.warning("%s: AUTH_SECRET is not set; only the ADMIN_TOKEN is accepted",
                    service_name)


# -- the audit log ------------------------------------------------------------------------------

def audit(collection, principal, action, target, before=None, after=None, now=None):
    """Record an admin change: who, what, when, before and after."""
    from services.kernel.events import utcnow

    collection.insert_one({"at": now or utcnow(), "who": principal.audit(), "action": action,
                           "target": target, "before": before, "after": after})
