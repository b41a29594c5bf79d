"""One process's list of revoked tokens (services.kernel.revocation), on a fake clock and
a fake catalog answer."""

import pytest

from services.kernel.errors import Unavailable
from services.kernel.revocation import OVERLAP_SECONDS, RevocationList, generation, refused


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class CatalogAnswers:
    """The catalog's ``revocations`` RPC over a table the test changes."""

    def __init__(self):
        self.entries = {}  # subject -> (valid_from, changed, expires_at)
        self.now = 1_000_000.0
        self.asked = []
        self.down = False

    def revoke(self, subject, valid_from=1, lasts=3600):
        self.entries[subject] = (valid_from, self.now, self.now + lasts)

    def __call__(self, since):
        self.asked.append(since)
        if self.down:
            raise ConnectionError("catalog down")
        items = [{"subject": s, "valid_from": v, "expires_at": e}
                 for s, (v, changed, e) in self.entries.items()
                 if (e > self.now if since is None else changed >= since)]
        return {"as_of": self.now, "items": items}


OPERATOR = {"sub": "account:siti", "role": "operator"}


def test_a_token_of_a_lower_generation_than_the_entry_is_refused():
    assert refused({"sub": "a"}, 1) and refused({"sub": "a", "gen": 1}, 2)
    assert not refused({"sub": "a", "gen": 1}, 1) and not refused({"sub": "a"}, None)
    assert [generation({"gen": g}) for g in (3, None, True, "9", 2.5)] == [3, 0, 0, 0, 0]


def test_a_revocation_counts_once_the_list_is_refreshed():
    clock, catalog = Clock(), CatalogAnswers()
    revocations = RevocationList(2, clock=clock)
    assert not revocations.refuses(OPERATOR, catalog)
    catalog.revoke("account:siti")
    clock.now += 1.9
    assert not revocations.refuses(OPERATOR, catalog), "not asked again within 2 s"
    assert len(catalog.asked) == 1
    clock.now += 0.2
    assert revocations.refuses(OPERATOR, catalog)
    assert not revocations.refuses({**OPERATOR, "gen": 1}, catalog), "a newer login counts"
    assert not revocations.refuses({"sub": "account:budi"}, catalog)


def test_each_refresh_asks_only_for_what_changed_since_the_last_answer():
    clock, catalog = Clock(), CatalogAnswers()
    catalog.revoke("device:a")
    revocations = RevocationList(2, clock=clock)
    revocations.refuses(OPERATOR, catalog)
    catalog.now += 10
    clock.now += 3
    revocations.refuses(OPERATOR, catalog)
    assert catalog.asked == [None, 1_000_000.0 - OVERLAP_SECONDS]
    assert revocations.refuses({"sub": "device:a"}, catalog), "kept from the first answer"


def test_an_entry_only_raises_the_floor_and_is_forgotten_when_it_expires():
    revocations = RevocationList(0, clock=Clock())
    revocations.merge({"as_of": 10, "items": [
        {"subject": "account:siti", "valid_from": 2, "expires_at": 50}]})
    revocations.merge({"as_of": 20, "items": [
        {"subject": "account:siti", "valid_from": 1, "expires_at": 40}]})  # an older copy
    assert revocations.valid_from == {"account:siti": 2}
    revocations.merge({"as_of": 50, "items": []})
    assert revocations.valid_from == {} and revocations.expires_at == {}


def test_without_the_catalog_a_list_never_loaded_refuses_to_guess():
    catalog = CatalogAnswers()
    catalog.down = True
    with pytest.raises(Unavailable):
        RevocationList(2, clock=Clock()).refuses(OPERATOR, catalog)


def test_without_the_catalog_the_last_list_still_counts_and_is_retried_later():
    clock, catalog = Clock(), CatalogAnswers()
    catalog.revoke("account:siti")
    revocations = RevocationList(2, clock=clock)
    assert revocations.refuses(OPERATOR, catalog)
    catalog.down = True
    clock.now += 5
    assert revocations.refuses(OPERATOR, catalog)
    clock.now += 1
    assert revocations.refuses(OPERATOR, catalog)
    assert len(catalog.asked) == 2, "a failed refresh waits its interval too"
    catalog.down = False
    catalog.revoke("account:budi")
    clock.now += 2
    assert revocations.refuses({"sub": "account:budi"}, catalog)


def test_while_one_worker_refreshes_the_others_use_the_list_they_have():
    clock, catalog = Clock(), CatalogAnswers()
    revocations = RevocationList(2, clock=clock)
    revocations.refuses(OPERATOR, catalog)
    clock.now += 3

    def slow(since):
        assert not revocations.refuses(OPERATOR, catalog)  # another worker meanwhile
        return catalog(since)

    revocations.refuses(OPERATOR, slow)
    assert len(catalog.asked) == 2
