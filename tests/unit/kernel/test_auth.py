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


@pytest.mark.parametrize("made_up", ["anything", "ak_0123456789ab_made-up-secret", "boot"])
def test_open_mode_accepts_no_made_up_credential(made_up):
    """Without secrets a request with no credential acts as the developer's admin, but a
    string typed as a key (the dashboard's key field) is checked, and refused."""
    with pytest.raises(Unauthorized):
        auth.authenticate(Request(made_up), {}, api_keys=lambda key: None)
    known = tokens.Principal("key:k1", "report_viewer")
    key = "ak_0123456789ab_a-real-key-the-catalog-knows"
    assert auth.authenticate(Request(key), {}, api_keys={key: known}.get) == known
