"""People, devices and API keys, kept by the catalog (which knows agencies and counters).

* accounts: ``admin``, ``agency_admin`` (one agency) and ``operator`` (one agency, some of
  its counters), with a password stored as a scrypt hash; logging in answers a signed
  token that every service checks on its own;
* devices: a kiosk or a display board of one site, with a long-lived token;
* API keys: ``report_viewer`` keys for dashboards (``ak_<id>_<secret>``, stored hashed);
* revocations: deactivating an account refuses the tokens it was given, and a device or
  an API key can be revoked on its own, on every service within seconds
  (:mod:`services.kernel.revocation`).

The use cases take input already loaded with :mod:`services.catalog.schemas`. Every
change is written to the audit log.
"""

import re
import secrets
import uuid

from services.kernel.config import setting
from services.kernel.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    TooManyRequests,
    Unauthorized,
)
from services.kernel.events import utcnow
from services.kernel.passwords import check_secret, hash_secret
from services.kernel.ratelimit import Lockout
from services.kernel.revocation import refused
from services.kernel.tokens import issue_token

API_KEY_REVOCATION_SECONDS = 86400  # far longer than any service caches a key's answer


def public_device(doc):
    return {"device_id": doc["_id"], "kind": doc["kind"], "site": doc["site"],
            "name": doc["name"], "created_at": doc.get("created_at"),
            "revoked_at": doc.get("revoked_at")}


def public_api_key(doc):
    return {"key_id": doc["_id"], "name": doc["name"], "role": doc["role"],
            "agency": doc.get("agency"), "active": doc.get("active", True),
            "created_at": doc.get("created_at"), "revoked_at": doc.get("revoked_at")}


def public_account(doc):
    return {"username": doc["_id"], "role": doc["role"], "agency": doc.get("agency"),
            "counters": doc.get("counters", []), "name": doc.get("name", ""),
            "active": doc.get("active", True), "created_at": doc.get("created_at")}


class Staff:
    """The staff use cases on the catalog's database (``repository`` a
    :class:`~services.catalog.repository.CatalogRepository`)."""

    def __init__(self, repository, config):
        self.repository = repository
        self.config = config

    def _number(self, name):
        return float(setting(name, self.config))

    def _secret(self):
        secret = setting("AUTH_SECRET", self.config)
        if not secret:
            raise Conflict("AUTH_SECRET belum diatur; token tidak dapat diterbitkan.")
        return secret

    # -- people -------------------------------------------------------------------------

    def create_user(self, principal, data):
        if not principal.is_admin and not (principal.role == "agency_admin"
                                           and data["role"] == "operator"
                                           and data["agency"] == principal.agency):
            raise Forbidden("Admin instansi hanya dapat membuat operator instansinya sendiri.")
        catalog = self.repository.load()
        if data.get("agency"):
            catalog.get("agencies", data["agency"])  # 404 for an unknown agency
        problems = {}
        for i, code in enumerate(data["counters"]):
            counter = catalog.entities["counters"].get(code)
            if counter is None or counter["agency"] != data["agency"]:
                problems[f"counters.{i}"] = [f"Loket {code!r} bukan loket instansi {data['agency']}."]
        if problems:
            raise InvalidInput(problems)
        doc = {"_id": data["username"], "role": data["role"], "agency": data.get("agency"),
               "counters": data["counters"], "name": data["name"], "active": True,
               "password": hash_secret(data["password"]), "created_at": utcnow()}
        if not self.repository.add_account(doc):
            raise Conflict(f"Akun {data['username']} sudah ada.")
        self.repository.write_audit(principal, "account_created", {"kind": "account", "code": doc["_id"]},
                    after=public_account(doc))
        return public_account(doc)

    def set_user_active(self, principal, username, active):
        doc = self.repository.account(username)
        if doc is None:
            raise NotFound(f"Tidak ada akun {username}.")
        if not principal.is_admin and not (principal.role == "agency_admin"
                                           and doc.get("agency") == principal.agency
                                           and doc["role"] == "operator"):
            raise Forbidden("Hanya admin, atau admin instansi untuk operatornya sendiri.")
        if not active:
            # The tokens first: a crash in between leaves the account active and its old
            # tokens refused (the admin repeats), never the account off and its tokens on.
            self.repository.revoke(f"account:{username}", utcnow().timestamp(),
                                   self._number("AUTH_TOKEN_HOURS") * 3600)
        self.repository.set_account_active(username, active)
        after = {**doc, "active": active}
        self.repository.write_audit(principal, "account_activated" if active else "account_deactivated",
                    {"kind": "account", "code": username}, public_account(doc), public_account(after))
        return public_account(after)

    def list_users(self, principal):
        agency = None if principal.is_admin else principal.agency
        return [public_account(d) for d in self.repository.accounts(agency)]

    def _lockouts(self):
        """``(policy for an account, policy for a client address)`` from the settings."""
        def number(name):
            return float(setting(name, self.config))

        common = {"window_seconds": number("LOGIN_FAILURE_WINDOW_SECONDS"),
                  "lock_seconds": number("LOGIN_LOCKOUT_SECONDS"),
                  "max_lock_seconds": number("LOGIN_MAX_LOCKOUT_SECONDS")}
        return (Lockout(int(number("LOGIN_MAX_FAILURES")), **common),
                Lockout(int(number("LOGIN_MAX_FAILURES_PER_ADDRESS")), **common))

    def login(self, data, client=None, now=None):
        """A token for the right name and password. ``client`` is the request's address
        (:func:`services.kernel.ratelimit.client_address`). An account, or an address,
        with too many failures in a row is refused for a while (429), even with the
        right password; a success resets the account (never the address)."""
        now = utcnow().timestamp() if now is None else now
        account, address = self._lockouts()
        names = [("login_account", f"account:{data['username']}", account)]
        if client:
            names.append(("login_address", f"address:{client}", address))
        for limit, key, policy in names:
            wait = policy.locked_for(self.repository.login_failures(key), now)
            if wait:
                raise TooManyRequests(
                    f"Terlalu banyak percobaan masuk yang gagal. Coba lagi dalam {wait} detik.",
                    retry_after=wait, limit=limit)
        doc = self.repository.account(data["username"])
        # The same answer, and the same slow hash, whether the name or the password is wrong.
        stored = doc["password"] if doc else hash_secret(secrets.token_hex(8))
        if not check_secret(data["password"], stored) or not doc or not doc.get("active"):
            for _, key, policy in names:
                self.repository.change_login_failures(
                    key, lambda state, p=policy: p.after_failure(state, now),
                    policy.keep_seconds(), now)
            raise Unauthorized("Nama pengguna atau kata sandi salah.")
        self.repository.forget_login_failures(names[0][1])
        hours = self._number("AUTH_TOKEN_HOURS")
        subject = f"account:{doc['_id']}"
        token = issue_token(self._secret(), subject, doc["role"],
                            hours * 3600, agency=doc.get("agency"),
                            counters=doc.get("counters"),
                            gen=self.repository.token_floor(subject) or None)
        return {"token": token, "expires_in": int(hours * 3600), **public_account(doc)}

    # -- devices ------------------------------------------------------------------------

    def create_device(self, principal, data):
        self.repository.load().get("sites", data["site"])
        device_id = uuid.uuid4().hex[:12]
        days = self._number("DEVICE_TOKEN_DAYS")
        token = issue_token(self._secret(), f"device:{device_id}", data["kind"],
                            days * 86400, site=data["site"])
        doc = {"_id": device_id, **data, "created_at": utcnow(), "created_by": principal.subject}
        self.repository.add_device(doc)
        public = {"device_id": device_id, **data, "created_at": doc["created_at"]}
        self.repository.write_audit(principal, "device_created", {"kind": "device", "code": device_id},
                    after=public)
        return {**public, "token": token, "expires_in": int(days * 86400)}

    def list_devices(self):
        return [public_device(d) for d in self.repository.devices()]

    def revoke_device(self, principal, device_id):
        """Refuse the device's token from now on, everywhere (a new device gets a new one)."""
        doc = self.repository.device(device_id)
        if doc is None:
            raise NotFound(f"Tidak ada perangkat {device_id}.")
        now = utcnow()
        self.repository.revoke(f"device:{device_id}", now.timestamp(),
                               self._number("DEVICE_TOKEN_DAYS") * 86400, every_token=True)
        self.repository.mark_device_revoked(device_id, now, principal.subject)
        after = public_device(self.repository.device(device_id))
        self.repository.write_audit(principal, "device_revoked",
                                    {"kind": "device", "code": device_id},
                                    public_device(doc), after)
        return after

    # -- API keys -----------------------------------------------------------------------

    def create_api_key(self, principal, data):
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(24)
        doc = {"_id": key_id, "name": data["name"], "role": "report_viewer",
               "agency": data.get("agency"), "hash": hash_secret(secret), "active": True,
               "created_at": utcnow()}
        self.repository.add_api_key(doc)
        public = {"key_id": key_id, "name": doc["name"], "role": doc["role"],
                  "agency": doc["agency"], "created_at": doc["created_at"]}
        self.repository.write_audit(principal, "api_key_created",
                                    {"kind": "api_key", "code": key_id}, after=public)
        return {**public, "key": f"ak_{key_id}_{secret}"}

    def list_api_keys(self):
        return [public_api_key(d) for d in self.repository.api_keys()]

    def revoke_api_key(self, principal, key_id):
        """Refuse the key from now on, also where a service remembered it as valid."""
        doc = self.repository.api_key(key_id)
        if doc is None:
            raise NotFound(f"Tidak ada kunci API {key_id}.")
        now = utcnow()
        self.repository.revoke(f"api_key:{key_id}", now.timestamp(),
                               API_KEY_REVOCATION_SECONDS, every_token=True)
        self.repository.deactivate_api_key(key_id, now, principal.subject)
        after = public_api_key(self.repository.api_key(key_id))
        self.repository.write_audit(principal, "api_key_revoked",
                                    {"kind": "api_key", "code": key_id},
                                    public_api_key(doc), after)
        return after

    # -- revoked tokens -----------------------------------------------------------------

    def revoked(self, claims):
        """Whether the token with ``claims`` is revoked (the catalog asks its own store)."""
        return refused(claims, self.repository.token_floor(claims.get("sub")) or None)

    def revocations(self, since=None):
        """What every other service keeps of the revocations
        (:class:`services.kernel.revocation.RevocationList`)."""
        now = utcnow().timestamp()
        return {"as_of": now, "items": self.repository.revocations(since, now)}

    def verify_api_key(self, key):
        """The principal of a valid API key, or None."""
        match = re.fullmatch(r"ak_([0-9a-f]{12})_([A-Za-z0-9_-]{16,64})", key or "")
        if not match:
            return None
        doc = self.repository.active_api_key(match.group(1))
        if doc is None or not check_secret(match.group(2), doc["hash"]):
            return None
        return {"subject": f"api_key:{doc['_id']}", "role": doc["role"], "agency": doc.get("agency")}
