"""Who a caller is: roles, the principal, and the signed tokens that carry it.

Roles:

* ``admin`` (the MPP operator): everything;
* ``agency_admin``: its own agency's webhooks and operator accounts; reads its own
  agency's reports and metrics only (totals too; another agency's is 403);
* ``operator``: bound to an agency and some of its counters: acts only there;
* ``kiosk`` and ``display``: devices of one site; a kiosk issues tickets, a display
  shows the hall's calls;
* ``report_viewer``: reads reports (an API key, e.g. for Grafana): every agency's, or
  only its agency's when the key was created for one (``agency``).

A token is ``v1.<payload>.<signature>``: the JSON claims (``sub``, ``role``, ``agency``,
``counters``, ``site``, ``iat``, ``exp``, and ``gen``, the token's generation, when not 0)
in base64url, signed with HMAC-SHA256 under ``AUTH_SECRET``, which every service shares,
so any service checks a token without asking another. Tokens expire (``exp``), and the
catalog can revoke them earlier (:mod:`services.kernel.revocation`).
"""

import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field

from services.kernel.base64url import decode, encode
from services.kernel.errors import Unauthorized

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


def sign(claims, secret):
    payload = encode(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    mac = hmac.new(secret.encode(), f"v1.{payload}".encode(), hashlib.sha256).digest()
    return f"v1.{payload}.{encode(mac)}"


def verify(token, secret, now=None):
    """The claims of a valid, unexpired token; :class:`Unauthorized` otherwise."""
    try:
        version, payload, mac = token.split(".")
        expected = hmac.new(secret.encode(), f"{version}.{payload}".encode(), hashlib.sha256)
        if version != "v1" or not hmac.compare_digest(decode(mac), expected.digest()):
            raise ValueError("signature")
        claims = json.loads(decode(payload))
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
