"""Revoking tokens in the catalog (services.catalog.staff): deactivated accounts, revoked
devices and API keys, against the configured Mongo store."""

import pytest

from services.catalog import commands
from services.catalog.repository import CatalogRepository
from services.catalog.staff import Staff
from services.kernel import passwords
from services.kernel.errors import NotFound
from services.kernel.tokens import Principal, verify

SECRET = "s" * 32
ADMIN = Principal("admin-token", "admin")
CONFIG = {"AUTH_SECRET": SECRET}


@pytest.fixture
def staff(database, monkeypatch):
    monkeypatch.setitem(passwords.SCRYPT, "n", 2 ** 4)
    repository = CatalogRepository(database("catalog"))
    repository.ensure_indexes()
    commands.load_sample(repository)
    staff = Staff(repository, CONFIG)
    staff.create_user(ADMIN, {"username": "siti", "password": "kata-sandi-rahasia",
                              "role": "operator", "agency": "DISDUKCAPIL",
                              "counters": ["BWI-L03"], "name": "Siti"})
    return staff


def login(staff):
    token = staff.login({"username": "siti", "password": "kata-sandi-rahasia"})["token"]
    return verify(token, SECRET)


def test_deactivating_an_account_revokes_the_tokens_it_holds(staff):
    before = login(staff)
    assert not staff.revoked(before)
    staff.set_user_active(ADMIN, "siti", False)
    assert staff.revoked(before)
    staff.set_user_active(ADMIN, "siti", True)
    assert staff.revoked(before), "activating again does not bring the old token back"
    after = login(staff)
    assert after["gen"] == 1 and not staff.revoked(after)
    staff.set_user_active(ADMIN, "siti", False)
    assert staff.revoked(after)


def test_the_revocations_are_answered_whole_and_then_by_change(staff):
    staff.set_user_active(ADMIN, "siti", False)
    first = staff.revocations()
    assert [(i["subject"], i["valid_from"]) for i in first["items"]] == [("account:siti", 1)]
    assert first["items"][0]["expires_at"] == pytest.approx(first["as_of"] + 12 * 3600, abs=5)
    assert staff.revocations(first["as_of"] + 1)["items"] == []
    device = staff.create_device(ADMIN, {"kind": "kiosk", "site": "BWI", "name": "Lobi"})
    staff.revoke_device(ADMIN, device["device_id"])
    changed = {i["subject"] for i in staff.revocations(first["as_of"])["items"]}
    assert f"device:{device['device_id']}" in changed


def test_revoking_one_device_refuses_its_token_and_no_other(staff):
    kiosk = staff.create_device(ADMIN, {"kind": "kiosk", "site": "BWI", "name": "Lobi"})
    other = staff.create_device(ADMIN, {"kind": "kiosk", "site": "BWI", "name": "Lantai 2"})
    revoked = staff.revoke_device(ADMIN, kiosk["device_id"])
    assert revoked["revoked_at"] is not None
    assert staff.revoked(verify(kiosk["token"], SECRET))
    assert not staff.revoked(verify(other["token"], SECRET))
    again = staff.revoke_device(ADMIN, kiosk["device_id"])
    assert again["revoked_at"] == revoked["revoked_at"], "revoking twice changes nothing"
    listed = {d["device_id"]: d["revoked_at"] for d in staff.list_devices()}
    assert listed[other["device_id"]] is None and listed[kiosk["device_id"]] is not None
    actions = [e["action"] for e in staff.repository.audit_entries(10)]
    assert actions.count("device_revoked") == 2
    with pytest.raises(NotFound):
        staff.revoke_device(ADMIN, "000000000000")


def test_a_revoked_api_key_is_refused_also_where_its_answer_was_remembered(staff):
    made = staff.create_api_key(ADMIN, {"name": "Grafana", "agency": None})
    principal = staff.verify_api_key(made["key"])
    assert principal["subject"] == f"api_key:{made['key_id']}"
    staff.revoke_api_key(ADMIN, made["key_id"])
    assert staff.verify_api_key(made["key"]) is None
    assert staff.revoked({"sub": principal["subject"]})
    assert [k["active"] for k in staff.list_api_keys()] == [False]
    with pytest.raises(NotFound):
        staff.revoke_api_key(ADMIN, "000000000000")
