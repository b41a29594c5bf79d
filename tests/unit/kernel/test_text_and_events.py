import pytest

from services.kernel.events import Event
from services.kernel.text import fold, search_filter
from services.kernel.validation import flatten


def test_fold_is_case_and_accent_insensitive():
    assert fold("  Pérekaman   KTP-él ") == "perekaman ktp-el"


def test_search_filter_requires_every_word_and_escapes_regex():
    assert search_filter("_search", "Akta  (lahir") == {
        "$and": [{"_search": {"$regex": "akta"}}, {"_search": {"$regex": r"\(lahir"}}]
    }
    assert search_filter("_search", "   ") == {}


def test_envelope_is_cloudevents_1_0():
    event = Event("ticket", "called", "tickets/1", {"number": "A-001"}, site="BWI", agency="DUK")
    body = event.envelope("/antre/queue")
    assert body["specversion"] == "1.0"
    assert body["type"] == "antre.ticket.called.v1"
    assert body["source"] == "/antre/queue"
    assert body["time"].endswith("Z")
    assert body["datacontenttype"] == "application/json"
    assert (body["site"], body["agency"]) == ("BWI", "DUK")
    assert event.routing_key == "ticket.called.DUK"
    assert Event("site", "x", "s", {}).routing_key == "site.x._site"


def test_flatten_nested_marshmallow_messages():
    messages = {"services": {3: {"fee": ["negative"]}}, "version": ["bad"]}
    assert flatten(messages) == {"services.3.fee": ["negative"], "version": ["bad"]}


@pytest.mark.parametrize("value, ok", [("BWI", True), ("KTP-EL", True), ("0-9", True),
                                       ("BWI\n", False), ("-BWI", False), ("bwi", False),
                                       ("", False), (None, False), ("A" * 49, False)])
def test_a_code_is_matched_whole(value, ok):
    from services.kernel.codes import is_code
    from services.kernel.validation import CODE

    assert is_code(value) is ok
    if ok:
        assert CODE(value) == value
    elif isinstance(value, str) and len(value) <= 48:
        with pytest.raises(Exception, match="huruf besar"):
            CODE(value)
