import pytest

from services.catalog.domain import Catalog
from services.kernel.errors import Conflict, InvalidInput, NotFound

from .factories import agency, counter, document, service, site


def catalog():
    doc = document()
    return Catalog(doc["sites"], doc["agencies"], doc["services"], doc["counters"])


def test_a_valid_catalog_has_no_problems():
    assert catalog().problems() == {}


def test_import_names_every_problem_at_once():
    doc = document(
        services=[service(), service(code="KK", agency="NOPE", ticket_prefix="A")],
        counters=[counter(), counter(code="L01")],
    )
    with pytest.raises(InvalidInput) as caught:
        Catalog().plan_import(doc)
    fields = caught.value.fields
    assert fields["services.1.agency"] == ["Instansi 'NOPE' tidak dikenal."]
    assert fields["services.1.ticket_prefix"] == [
        "Awalan nomor antrean 'A' sudah dipakai layanan 'KTP-EL' di MPP 'BWI'."]
    assert fields["counters.1.code"] == ["Kode loket 'L01' ganda (juga di counters.0)."]


def test_counter_may_only_serve_its_own_agencys_services():
    doc = document(agencies=[agency(), agency(code="BPJS", kind="state_company")],
                   counters=[counter(agency="BPJS")])
    with pytest.raises(InvalidInput) as caught:
        Catalog().plan_import(doc)
    assert caught.value.fields == {
        "counters.0.services.0": ["Layanan 'KTP-EL' milik instansi 'DISDUKCAPIL', bukan 'BPJS'."]
    }


def test_same_prefix_in_two_sites_is_allowed():
    doc = document(sites=[site(), site(code="LBT", name="MPP Labuhanbatu")],
                   services=[service(), service(code="KTP-LBT", site="LBT")])
    changes = Catalog().plan_import(doc)
    assert len(changes) == 6


def test_opening_hours_inverted_overlapping_and_break_outside():
    hours = [
        {"day": "monday", "open": "15:00", "close": "08:00", "breaks": []},
        {"day": "tuesday", "open": "08:00", "close": "12:00", "breaks": []},
        {"day": "tuesday", "open": "11:00", "close": "15:00",
         "breaks": [{"start": "16:00", "end": "17:00", "label": "x"}]},
    ]
    problems = Catalog([site(opening_hours=hours)]).problems()
    assert problems["sites.BWI.opening_hours.0"] == [
        "Senin: tutup pukul 08:00, tidak setelah buka pukul 15:00."]
    assert problems["sites.BWI.opening_hours.2"] == [
        "Selasa: 11:00-15:00 bertumpang tindih dengan opening_hours.1 (08:00-12:00)."]
    assert problems["sites.BWI.opening_hours.2.breaks.0"] == [
        "Istirahat 16:00-17:00 di luar jam buka 11:00-15:00."]


def test_create_refuses_an_existing_code_with_conflict():
    with pytest.raises(Conflict):
        catalog().plan_create("agencies", agency())


def test_create_validates_references():
    with pytest.raises(InvalidInput) as caught:
        catalog().plan_create("services", service(code="NEW", agency="GHOST", ticket_prefix="Z"))
    assert caught.value.fields == {"agency": ["Instansi 'GHOST' tidak dikenal."]}


def test_update_reports_changed_fields_and_nothing_when_equal():
    cat = catalog()
    [change] = cat.plan_update("services", "KTP-EL", {"fee": 5000, "name": "Perekaman KTP-el"})
    assert change.action == "updated"
    assert change.changed == ["fee", "name"]
    assert cat.plan_update("services", "KTP-EL", {"fee": 0}) == []


def test_deactivate_is_its_own_action_and_unknown_code_is_not_found():
    [change] = catalog().plan_set_active("counters", "L01", False)
    assert change.action == "deactivated"
    with pytest.raises(NotFound):
        catalog().plan_set_active("counters", "L99", False)


def test_replace_mode_deactivates_what_the_document_omits():
    cat = catalog()
    doc = document(counters=[], services=[service()])
    changes = cat.plan_import(doc, mode="replace")
    assert [(c.kind, c.code, c.action) for c in changes] == [("counters", "L01", "deactivated")]


def test_events_name_agency_and_carry_the_entity():
    [change] = catalog().plan_update("services", "KTP-EL", {"fee": 1000})
    event = change.event()
    assert event.type == "antre.catalog.service_updated.v1"
    assert event.routing_key == "catalog.service_updated.DISDUKCAPIL"
    assert event.data["service"]["fee"] == 1000
    assert event.site == "BWI"
