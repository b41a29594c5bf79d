import time

import pytest

from services.kernel import base64url, tokens
from services.kernel.errors import Unauthorized

SECRET = "unit-test-secret"


def test_a_token_carries_its_claims_and_expires():
    token = tokens.issue_token(SECRET, "account:siti", "operator", 60, agency="DUK",
                               counters=["L01"])
    claims = tokens.verify(token, SECRET)
    assert (claims["sub"], claims["role"], claims["agency"], claims["counters"]) == (
        "account:siti", "operator", "DUK", ["L01"])
    with pytest.raises(Unauthorized, match="kedaluwarsa"):
        tokens.verify(token, SECRET, now=time.time() + 61)


def test_the_token_format_and_signature_are_stable():
    """A token signed before the auth split: the same claims still give the same text."""
    claims = {"sub": "account:siti", "role": "operator", "iat": 1, "exp": 4102444800,
              "agency": "DUK", "counters": ["L01"]}
    signed = ("v1.eyJhZ2VuY3kiOiJEVUsiLCJjb3VudGVycyI6WyJMMDEiXSwiZXhwIjo0MTAyNDQ0ODAwLCJpYXQiOjEs"
              "InJvbGUiOiJvcGVyYXRvciIsInN1YiI6ImFjY291bnQ6c2l0aSJ9."
              "xt2KqmVeLsj9muGxrZl8mKsLpMZaaCIVkob4m9nM8mU")
    assert tokens.sign(claims, SECRET) == signed
    assert tokens.verify(signed, SECRET, now=2) == claims


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature
    lambda t: t.replace("v1.", "v2.", 1),
    lambda t: "v1." + base64url.encode(b'{"sub":"x","role":"admin","exp":9999999999}') + "."
    + t.split(".")[2],
    lambda t: "garbage",
])
def test_a_tampered_token_is_refused(mangle):
    token = tokens.issue_token(SECRET, "device:k1", "kiosk", 60, site="BWI")
    with pytest.raises(Unauthorized):
        tokens.verify(mangle(token), SECRET)
    with pytest.raises(Unauthorized):
        tokens.verify(token, "another secret")


def test_operator_scope():
    operator = tokens.Principal("account:siti", "operator", "DUK", ("L01",))
    assert operator.may_use_counter("L01") and not operator.may_use_counter("L02")
    assert operator.in_agency("DUK") and not operator.in_agency("BPJS")
    assert tokens.Principal("a", "admin").may_use_counter("anything")
