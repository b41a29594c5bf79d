import pytest

from services.kernel import auth, tokens
from services.kernel.errors import Forbidden, Unauthorized

SECRET = "unit-test-secret"


class Request:
    def __init__(self, token=None):
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}


CONFIG = {"ADMIN_TOKEN": "boot", "AUTH_SECRET": SECRET}


def test_roles_are_enforced_and_admins_pass():
    kiosk = tokens.issue_token(SECRET, "device:k1", "kiosk", 60, site="BWI")
    assert auth.require(Request(kiosk), CONFIG, "kiosk").site == "BWI"
    with pytest.raises(Forbidden):
        auth.require(Request(kiosk), CONFIG, "operator")
    assert auth.require(Request("boot"), CONFIG, "operator").is_admin
    with pytest.raises(Unauthorized):
        auth.require(Request(), CONFIG, "operator")
    with pytest.raises(Unauthorized):
        auth.require(Request("ak_0123456789ab_whatever-secret-here"), CONFIG, "report_viewer")


def test_open_mode_only_without_any_credential_configured():
    assert auth.require(Request(), {}, "operator").is_admin
    assert not auth.is_open({"AUTH_SECRET": SECRET})
