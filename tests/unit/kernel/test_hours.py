from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from services.kernel import hours
from tests.unit.catalog.factories import site

WIB = ZoneInfo("Asia/Jakarta")


def at(y, m, d, hh, mm):
    return datetime(y, m, d, hh, mm, tzinfo=WIB)


def test_open_during_opening_hours_and_uses_the_site_time_zone():
    # 2026-11-23 is a Monday. 01:00 UTC is 08:00 in Jakarta.
    assert hours.status(site(), datetime(2026, 11, 23, 1, 0, tzinfo=UTC)).open


def test_friday_prayer_break_says_when_it_opens_again():
    state = hours.status(site(), at(2026, 11, 27, 11, 30))
    assert (state.open, state.reason, state.label) == (False, "break", "Salat Jumat")
    assert state.next_open == at(2026, 11, 27, 13, 0)


def test_after_saturday_closing_next_opening_is_monday():
    state = hours.status(site(), at(2026, 11, 28, 12, 0))
    assert (state.open, state.reason) == (False, "after_closing")
    assert state.next_open == at(2026, 11, 30, 7, 30)


def test_sunday_and_holidays_are_closed():
    assert hours.status(site(), at(2026, 11, 29, 9, 0)).reason == "closed_day"
    holiday = site(closed_dates=[{"date": "2026-12-25", "label": "Hari Raya Natal"}])
    state = hours.status(holiday, at(2026, 12, 25, 9, 0))
    assert (state.reason, state.label) == ("holiday", "Hari Raya Natal")
    assert state.next_open == at(2026, 12, 26, 8, 0)


def test_before_opening():
    state = hours.status(site(), at(2026, 11, 23, 6, 0))
    assert (state.reason, state.next_open) == ("before_opening", at(2026, 11, 23, 7, 30))


def test_local_day_differs_from_utc_day_near_midnight():
    moment = datetime(2026, 11, 23, 18, 30, tzinfo=UTC)  # 01:30 on the 24th in Jakarta
    assert hours.local_day("Asia/Jakarta", moment).isoformat() == "2026-11-24"


def test_problems_name_every_bad_break_and_the_duplicate_closed_date():
    entry = {"day": "friday", "open": "08:00", "close": "15:00", "breaks": [
        {"start": "11:30", "end": "13:00", "label": "Salat Jumat"},
        {"start": "12:00", "end": "12:30", "label": "Makan siang"},
        {"start": "14:00", "end": "13:30", "label": "terbalik"},
        {"start": "14:30", "end": "16:00", "label": "melewati tutup"},
    ]}
    closed = [{"date": "2026-12-25", "label": "Natal"}, {"date": "2026-12-25", "label": "x"}]
    found = hours.problems({"opening_hours": [entry], "closed_dates": closed})
    assert sorted(found) == sorted([
        ("opening_hours.0.breaks.1", "Istirahat 12:00-12:30 bertumpang tindih dengan istirahat 0."),
        ("opening_hours.0.breaks.2", "Istirahat berakhir pukul 13:30, tidak setelah mulai pukul 14:00."),
        ("opening_hours.0.breaks.3", "Istirahat 14:30-16:00 di luar jam buka 08:00-15:00."),
        ("closed_dates.1", "Tanggal 2026-12-25 tercantum dua kali."),
    ])


def test_breaks_of_an_inverted_day_are_not_judged_and_good_hours_have_no_problem():
    inverted = {"day": "monday", "open": "15:00", "close": "08:00",
                "breaks": [{"start": "20:00", "end": "19:00", "label": "x"}]}
    assert [path for path, _ in hours.problems({"opening_hours": [inverted]})] == [
        "opening_hours.0"]
    assert hours.problems(site()) == []
