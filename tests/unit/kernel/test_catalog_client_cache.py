"""The catalog client remembers what it asked, for a while, and never a raw API key."""

import pytest

from services.kernel.catalog import CatalogClient, TtlCache
from services.kernel.revocation import RevocationList


class CatalogRpc:
    """The catalog's RPC as the client calls it, counting calls; ``down`` makes it fail."""

    def __init__(self):
        self.calls, self.down = [], False

    def get(self, kind, code):
        self.calls.append(("get", kind, code))
        return {"code": code, "kind": kind}

    def verify_api_key(self, key):
        self.calls.append(("verify_api_key", key))
        if self.down:
            raise TimeoutError("catalog does not answer")
        return {"subject": "api_key:1", "role": "report_viewer"} if key == "good" else None


def test_records_are_cached_per_kind_and_a_fresh_read_always_asks():
    rpc = CatalogRpc()
    client = CatalogClient(rpc, TtlCache(60), RevocationList(0))
    assert client.site("BWI") == client.site("BWI") == {"code": "BWI", "kind": "sites"}
    assert client.service("BWI") == {"code": "BWI", "kind": "services"}  # same code, other kind
    client.current_counter("L01")
    client.current_counter("L01")
    assert rpc.calls == [("get", "sites", "BWI"), ("get", "services", "BWI"),
                         ("get", "counters", "L01"), ("get", "counters", "L01")]


def test_an_api_key_answer_is_kept_under_its_digest_and_a_failure_is_not_kept():
    rpc, cache = CatalogRpc(), TtlCache(60)
    client = CatalogClient(rpc, cache, RevocationList(0))
    rpc.down = True
    with pytest.raises(TimeoutError):
        client.verify_api_key("good")
    rpc.down = False
    assert client.verify_api_key("good")["role"] == "report_viewer"
    assert client.verify_api_key("good")["role"] == "report_viewer"
    assert client.verify_api_key("bad") is None
    assert rpc.calls.count(("verify_api_key", "good")) == 2  # the failure, then once
    assert all("good" not in repr(key) and "bad" not in repr(key) for key in cache.entries)
