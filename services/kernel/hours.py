"""Opening hours of a site: pure functions over the catalog's site record.

A site has ``opening_hours``: entries ``{day, open, close, breaks: [{start, end, label}]}``
with ``HH:MM`` local times, and ``closed_dates``: ``[{date, label}]``. Times are local to
the site's ``timezone``.
"""

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
HARI = dict(zip(WEEKDAYS, ("Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu"),
                strict=True))


def minutes(hhmm):
    hours, mins = hhmm.split(":")
    return int(hours) * 60 + int(mins)


def _spans(entries, first, last, path, inverted, overlapping, group=lambda entry: None):
    """Check ``entries`` as time spans ``entry[first]``-``entry[last]``.

    Returns ``(problems, spans)``: a problem for each span that ends before it starts
    (``inverted(entry)``) or overlaps an earlier one of the same ``group``
    (``overlapping(entry, earlier_index, earlier)``), and the well-formed spans as
    ``(index, entry, start_minute, end_minute)``.
    """
    found, spans, by_group = [], [], {}
    for i, entry in enumerate(entries):
        start, end = minutes(entry[first]), minutes(entry[last])
        if end <= start:
            found.append((path(i), inverted(entry)))
            continue
        earlier = by_group.setdefault(group(entry), [])
        found.extend((path(i), overlapping(entry, other_i, other))
                     for other_i, other, o_start, o_end in earlier
                     if start < o_end and o_start < end)
        earlier.append((i, entry, start, end))
        spans.append((i, entry, start, end))
    return found, spans


def problems(site):
    """Every problem with a site's opening hours, as ``(path, message)`` pairs."""
    found, days = _spans(
        site.get("opening_hours") or [], "open", "close", lambda i: f"opening_hours.{i}",
        inverted=lambda e: (f"{HARI[e['day']]}: tutup pukul {e['close']}, tidak setelah "
                            f"buka pukul {e['open']}."),
        overlapping=lambda e, k, o: (f"{HARI[e['day']]}: {e['open']}-{e['close']} bertumpang "
                                     f"tindih dengan opening_hours.{k} "
                                     f"({o['open']}-{o['close']})."),
        group=lambda e: e["day"])
    for i, entry, start, end in days:
        broken, breaks = _spans(
            entry.get("breaks") or [], "start", "end", lambda j, i=i: f"opening_hours.{i}.breaks.{j}",
            inverted=lambda b: (f"Istirahat berakhir pukul {b['end']}, tidak setelah mulai "
                                f"pukul {b['start']}."),
            overlapping=lambda b, k, o: (f"Istirahat {b['start']}-{b['end']} bertumpang tindih "
                                         f"dengan istirahat {k}."))
        found.extend(broken)
        found.extend((f"opening_hours.{i}.breaks.{j}",
                      f"Istirahat {b['start']}-{b['end']} di luar jam buka "
                      f"{entry['open']}-{entry['close']}.")
                     for j, b, b_start, b_end in breaks if b_start < start or b_end > end)
    dates = {}
    for i, closed in enumerate(site.get("closed_dates") or []):
        if closed["date"] in dates:
            found.append((f"closed_dates.{i}", f"Tanggal {closed['date']} tercantum dua kali."))
        dates[closed["date"]] = i
    return found


@dataclass(frozen=True)
class OpeningStatus:
    open: bool
    reason: str | None  # None when open; else "closed_day", "before_opening", "break", ...
    label: str | None  # e.g. the break's label ("Salat Jumat") or the holiday's name
    next_open: datetime | None  # local, timezone-aware; None when the site never opens


def _windows(site, day):
    """Open windows (local start, end, label-of-gap-before) for one local date."""
    closed = {c["date"]: c.get("label") for c in site.get("closed_dates") or []}
    if day.isoformat() in closed:
        return []
    weekday = WEEKDAYS[day.weekday()]
    windows = []
    for entry in site.get("opening_hours") or []:
        if entry["day"] != weekday:
            continue
        cursor = minutes(entry["open"])
        for brk in sorted(entry.get("breaks") or [], key=lambda b: minutes(b["start"])):
            windows.append((cursor, minutes(brk["start"])))
            cursor = minutes(brk["end"])
        windows.append((cursor, minutes(entry["close"])))
    return sorted(w for w in windows if w[1] > w[0])


def _at(day, mins, tz):
    return datetime.combine(day, time(mins // 60, mins % 60), tzinfo=tz)


def status(site, moment):
    """Whether ``site`` is open at ``moment`` (aware datetime), and when it opens next."""
    tz = ZoneInfo(site["timezone"])
    local = moment.astimezone(tz)
    today = local.date()
    now_min = local.hour * 60 + local.minute
    closed = {c["date"]: c.get("label") for c in site.get("closed_dates") or []}
    for start, end in _windows(site, today):
        if start <= now_min < end:
            return OpeningStatus(True, None, None, None)
    next_open = next_opening(site, local)
    if today.isoformat() in closed:
        return OpeningStatus(False, "holiday", closed[today.isoformat()], next_open)
    entries = [e for e in site.get("opening_hours") or [] if e["day"] == WEEKDAYS[today.weekday()]]
    if not entries:
        return OpeningStatus(False, "closed_day", None, next_open)
    for entry in entries:
        for brk in entry.get("breaks") or []:
            if minutes(brk["start"]) <= now_min < minutes(brk["end"]):
                return OpeningStatus(False, "break", brk.get("label"), next_open)
    first = min(minutes(e["open"]) for e in entries)
    reason = "before_opening" if now_min < first else "after_closing"
    return OpeningStatus(False, reason, None, next_open)


def next_opening(site, local):
    """The next local moment after ``local`` at which the site opens (within 366 days)."""
    tz = ZoneInfo(site["timezone"])
    now_min = local.hour * 60 + local.minute
    for offset in range(367):
        day = local.date() + timedelta(days=offset)
        for start, _end in _windows(site, day):
            if offset > 0 or start > now_min:
                return _at(day, start, tz)
    return None


def local_day(site_timezone, moment):
    """The site's local calendar date at ``moment``."""
    return moment.astimezone(ZoneInfo(site_timezone)).date()
