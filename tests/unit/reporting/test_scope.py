"""Whose figures a reader's reports cover (:func:`services.reporting.domain.report_scope`).

An agency-bound reader (an agency admin, an API key created for one agency) reads its
own agency's figures only, whatever it asks; the MPP's readers (an admin, a report
viewer's key for the whole site) read every agency's, or the one they ask for.
"""

import pytest

from services.kernel.errors import Forbidden
from services.kernel.tokens import Principal
from services.reporting.domain import report_scope

AGENCY_ADMIN = Principal("account:rina", "agency_admin", "DISDUKCAPIL")
AGENCY_KEY = Principal("api_key:0123456789ab", "report_viewer", "DISDUKCAPIL")
SITE_KEY = Principal("api_key:ba9876543210", "report_viewer")
ADMIN = Principal("admin-token", "admin")


@pytest.mark.parametrize("reader", [AGENCY_ADMIN, AGENCY_KEY], ids=["agency_admin", "agency_key"])
@pytest.mark.parametrize("requested", [None, "DISDUKCAPIL"])
def test_an_agency_bound_reader_reads_its_own_agency(reader, requested):
    assert report_scope(reader, requested) == "DISDUKCAPIL"


@pytest.mark.parametrize("reader", [AGENCY_ADMIN, AGENCY_KEY], ids=["agency_admin", "agency_key"])
def test_an_agency_bound_reader_asking_for_another_agency_is_refused(reader):
    with pytest.raises(Forbidden) as refused:
        report_scope(reader, "BPJSKES")
    body = refused.value.to_dict()
    assert body["error"] == "forbidden"
    assert body["field"] == "agency" and body["agency"] == "DISDUKCAPIL"
    assert "role" not in body, "not a refusal for the role: the role may read reports"


@pytest.mark.parametrize("reader", [ADMIN, SITE_KEY, Principal("account:boss", "admin")],
                         ids=["admin_token", "site_key", "admin_account"])
def test_the_mpp_s_readers_read_every_agency_or_the_one_they_ask_for(reader):
    assert report_scope(reader, None) is None
    assert report_scope(reader, "BPJSKES") == "BPJSKES"


def test_an_admin_is_never_narrowed_by_an_agency_on_its_credential():
    assert report_scope(Principal("account:boss", "admin", "DISDUKCAPIL"), None) is None


def test_an_agency_admin_without_an_agency_reads_nothing():
    """The catalog never issues one; if a token said so, no report would be the whole MPP's."""
    with pytest.raises(Forbidden) as refused:
        report_scope(Principal("account:odd", "agency_admin"), None)
    assert refused.value.to_dict()["field"] == "agency"
