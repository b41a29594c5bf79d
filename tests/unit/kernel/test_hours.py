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
