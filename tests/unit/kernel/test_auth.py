import time

import pytest

from services.kernel import auth
from services.kernel.errors import Forbidden, Unauthorized

SECRET = "unit-test-secret"


class Request:
    def __init__(self, token=None):
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}


CONFIG = {"ADMIN_TOKEN": "boot", "AUTH_SECRET": SECRET}


def test_a_token_carries_its_claims_and_expires():
    token = auth.issue_token(SECRET, "account:siti", "operator", 60, agency="DUK",
                             counters=["L01"])
    claims = auth.verify(token, SECRET)
    assert (claims["sub"], claims["role"], claims["agency"], claims["counters"]) == (
        "account:siti", "operator", "DUK", ["L01"])
    with pytest.raises(Unauthorized, match="kedaluwarsa"):
        auth.verify(token, SECRET, now=time.time() + 61)


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature
    lambda t: t.replace("v1.", "v2.", 1),
    lambda t: "v1." + auth._b64(b'{"sub":"x","role":"admin","exp":9999999999}') + "." + t.split(".")[2],
    lambda t: "garbage",
])
def test_a_tampered_token_is_refused(mangle):
    token = auth.issue_token(SECRET, "device:k1", "kiosk", 60, site="BWI")
    with pytest.raises(Unauthorized):
        auth.verify(mangle(token), SECRET)
    with pytest.raises(Unauthorized):
        auth.verify(token, "another secret")


def test_roles_are_enforced_and_admins_pass():
    kiosk = auth.issue_token(SECRET, "device:k1", "kiosk", 60, site="BWI")
    assert auth.require(Request(kiosk), CONFIG, "kiosk").site == "BWI"
    with pytest.raises(Forbidden):
        auth.require(Request(kiosk), CONFIG, "operator")
    assert auth.require(Request("boot"), CONFIG, "operator").is_admin
    with pytest.raises(Unauthorized):
        auth.require(Request(), CONFIG, "operator")
    with pytest.raises(Unauthorized):
        auth.require(Request("ak_0123456789ab_whatever-secret-here"), CONFIG, "report_viewer")


def test_operator_scope():
    operator = auth.Principal("account:siti", "operator", "DUK", ("L01",))
    assert operator.may_use_counter("L01") and not operator.may_use_counter("L02")
    assert operator.in_agency("DUK") and not operator.in_agency("BPJS")
    assert auth.Principal("a", "admin").may_use_counter("anything")


def test_secrets_are_stored_as_slow_salted_hashes():
    stored = auth.hash_secret("kata-sandi-panjang")
    assert stored.startswith("scrypt$16384$8$1$") and "kata" not in stored
    assert stored != auth.hash_secret("kata-sandi-panjang"), "salted"
    assert auth.check_secret("kata-sandi-panjang", stored)
    assert not auth.check_secret("kata-sandi-salah", stored)
    assert not auth.check_secret("x", "not-a-hash")


def test_open_mode_only_without_any_credential_configured():
    assert auth.require(Request(), {}, "operator").is_admin
    assert not auth.is_open({"AUTH_SECRET": SECRET})
