"""The reporting service's rules, in plain Python with no I/O.

* :func:`fold_ticket` turns every stored event of one ticket into its *fact*, in
  whatever order the events arrived: every ticket event carries the ticket's whole
  state at that moment, so the fact is the state of the latest event (by event time,
  then by lifecycle order for events of the same millisecond). It trusts no stored
  event: one whose fields do not have their documented types is left out (see
  :func:`usable_ticket_event`), so a bad event can never break a fold or a replay.
* A fact counts in the reports once its ticket's ``issued`` event is known
  (``issued_seen``): events about a ticket nobody issued change no figure.
* :func:`daily_report` aggregates the facts of one site and local day.
* :func:`stats` gives count, mean, median, p90 (nearest rank) and max.
* :func:`report_scope` says whose figures a reader's reports cover: an agency-bound
  reader (an agency admin, an API key created for one agency) its own agency's only.
"""

import math
from collections import Counter, defaultdict
from datetime import datetime
from zoneinfo import ZoneInfo

from services.kernel.errors import Forbidden
from services.reporting.ikm import ELEMENTS

# Lifecycle order, to order events of the same millisecond.
RANK = {"issued": 0, "returned": 1, "called": 2, "recalled": 3, "serving": 4,
        "completed": 5, "no_show": 5, "cancelled": 5, "transferred": 5}
OUTCOMES = ("completed", "no_show", "cancelled", "transferred")
BUSY = ("completed", "transferred")  # the statuses whose service time kept a counter busy
FACT_FIELDS = (
    "ticket_id", "visit_id", "leg", "site", "agency", "service", "ticket_number", "local_day",
    "status", "channel", "priority", "target_wait_minutes", "counter", "recalls", "issued_at",
    "called_at", "serving_at", "ended_at", "waiting_seconds", "service_seconds",
    "transferred_from", "transferred_to",
)


def action_of(event_type):
    """'antre.ticket.called.v1' -> 'called'."""
    return event_type.split(".")[2]


def parse_time(value):
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _time_or_none(value):
    if value is None:
        return True
    if not isinstance(value, str):
        return False
    try:
        parse_time(value)
    except ValueError:
        return False
    return True


def _is(kind, optional=False):
    def check(value):
        if value is None:
            return optional
        if kind is int:
            return isinstance(value, int) and not isinstance(value, bool)
        if kind is float:
            return isinstance(value, int | float) and not isinstance(value, bool)
        return isinstance(value, kind)
    return check


# What each field a fact is made of must be, in a stored ticket event's data.
TICKET_FIELD_TYPES = {
    "ticket_id": _is(str), "visit_id": _is(str, True), "leg": _is(int, True),
    "site": _is(str), "agency": _is(str), "service": _is(str),
    "ticket_number": _is(str, True), "local_day": _is(str), "status": _is(str),
    "channel": _is(str, True), "priority": _is(str, True),
    "target_wait_minutes": _is(float, True), "counter": _is(str, True),
    "recalls": _is(int, True), "issued_at": _time_or_none, "called_at": _time_or_none,
    "serving_at": _time_or_none, "ended_at": _time_or_none,
    "waiting_seconds": _is(float, True), "service_seconds": _is(float, True),
    "transferred_from": _is(str, True), "transferred_to": _is(str, True),
    "cancelled_by": _is(str, True), "reason": _is(str, True),
}


def usable_ticket_event(envelope):
    """True when ``envelope`` is a ticket event a fold can rely on: a known action, a
    real time, and every field the fact takes of the documented type."""
    if not isinstance(envelope, dict) or not isinstance(envelope.get("type"), str):
        return False
    parts = envelope["type"].split(".")
    if len(parts) != 4 or parts[1] != "ticket" or parts[2] not in RANK:
        return False
    if not isinstance(envelope.get("id"), str) or not isinstance(envelope.get("time"), str):
        return False
    if not _time_or_none(envelope["time"]):
        return False
    data = envelope.get("data")
    if not isinstance(data, dict):
        return False
    return all(check(data.get(name)) for name, check in TICKET_FIELD_TYPES.items())


def fold_ticket(events):
    """The fact of one ticket from its events (envelopes), in any order; None when no
    event of it is usable."""
    events = [e for e in events if usable_ticket_event(e)]
    if not events:
        return None
    ordered = sorted(events, key=lambda e: (parse_time(e["time"]),
                                            RANK.get(action_of(e["type"]), 9)))
    latest = ordered[-1]
    data = latest["data"]
    fact = {name: data.get(name) for name in FACT_FIELDS}
    fact["_id"] = data["ticket_id"]
    for name in ("issued_at", "called_at", "serving_at", "ended_at"):
        fact[name] = parse_time(fact[name])
    fact["recalls"] = max((e["data"].get("recalls") or 0) for e in events)
    fact["events"] = len(events)
    fact["last_event"] = latest["id"]
    fact["issued_seen"] = any(action_of(e["type"]) == "issued" for e in events)
    cancel = next((e for e in ordered if action_of(e["type"]) == "cancelled"), None)
    fact["cancelled_by"] = cancel["data"].get("cancelled_by") if cancel else None
    fact["cancel_reason"] = cancel["data"].get("reason") if cancel else None
    return fact


def counted(facts):
    """The facts the reports count: those whose ticket is known to have been issued
    (facts stored before ``issued_seen`` existed count, as they did)."""
    return [f for f in facts if f.get("issued_seen", True)]


def feedback_record(envelope):
    """The IKM record of a ``feedback.submitted`` event, or None when the stored event
    does not have the documented types (nine scores, each an integer 1-4)."""
    data = envelope.get("data") if isinstance(envelope, dict) else None
    if not isinstance(data, dict):
        return None
    scores = data.get("scores")
    if not isinstance(scores, dict) or set(scores) != set(ELEMENTS) or not all(
            isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 4
            for v in scores.values()):
        return None
    fields_ok = all(isinstance(data.get(k), str) for k in
                    ("ticket_id", "site", "agency", "service", "local_day"))
    if not fields_ok or not isinstance(data.get("counter"), str | type(None)):
        return None
    return {"_id": data["ticket_id"], "site": data["site"], "agency": data["agency"],
            "service": data["service"], "counter": data.get("counter"),
            "local_day": data["local_day"], "scores": {k: scores[k] for k in ELEMENTS}}


# -- who reads what ---------------------------------------------------------------------------

def report_scope(principal, requested=None):
    """The agency whose figures ``principal``'s reports cover; None for every agency.

    An agency-bound reader (an ``agency_admin``, or an API key created for one agency)
    reads its own agency only: asking for another is :class:`Forbidden` (naming the
    field ``agency`` and the reader's own). The MPP's readers (an admin, a report
    viewer's key for the whole site) read every agency, or the one ``requested``."""
    own = None if principal.is_admin else principal.agency
    if own is None and principal.role == "agency_admin":  # never issued: fail closed
        raise Forbidden("Akun admin instansi ini tidak terikat pada instansi mana pun.",
                        field="agency", agency=None)
    if own is None:
        return requested
    if requested not in (None, own):
        raise Forbidden(f"Kredensial ini hanya membaca laporan instansi {own}.",
                        field="agency", agency=own)
    return own


def of_agency(facts, agency):
    """The facts (or IKM records) of ``agency``; all of them when it is None."""
    return list(facts) if agency is None else [f for f in facts if f["agency"] == agency]


# -- statistics ----------------------------------------------------------------------------

def percentile(sorted_values, fraction):
    """Nearest-rank percentile: the smallest value with at least ``fraction`` at or below."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def median(sorted_values):
    n = len(sorted_values)
    if not n:
        return None
    middle = n // 2
    if n % 2:
        return sorted_values[middle]
    return (sorted_values[middle - 1] + sorted_values[middle]) / 2


def stats(values):
    """Seconds: count, mean, median, p90 (nearest rank) and max, rounded to the ms."""
    return stats_of_sorted(sorted(v for v in values if v is not None))


def stats_of_sorted(values):
    """:func:`stats` of values already sorted, none of them None. The mean is exact
    (``math.fsum``), so it does not depend on the order the values were added in."""
    if not values:
        return {"count": 0, "mean": None, "median": None, "p90": None, "max": None}

    def r(x):
        return round(x, 3)

    return {"count": len(values), "mean": r(math.fsum(values) / len(values)),
            "median": r(median(values)), "p90": r(percentile(values, 0.9)), "max": r(values[-1])}


def busy_seconds(values):
    """A counter's busy time: the exact sum of its service times, rounded to the ms."""
    return round(math.fsum(values), 3)


def usual(counts):
    """The most frequent code of a :class:`~collections.Counter` (the smallest on a
    tie): the agency of a service or counter, whatever order its facts come in."""
    return min(counts, key=lambda code: (-counts[code], code))


# -- aggregation -------------------------------------------------------------------------------

def local_hour(moment, timezone):
    return moment.astimezone(ZoneInfo(timezone)).hour if moment else None


def within_target(fact):
    if fact.get("waiting_seconds") is None or not fact.get("target_wait_minutes"):
        return None
    return fact["waiting_seconds"] <= fact["target_wait_minutes"] * 60


def summarise(facts):
    """The figures of a group of facts (legs)."""
    facts = list(facts)
    called = [f for f in facts if f.get("waiting_seconds") is not None]
    sla = [within_target(f) for f in called]
    sla = [x for x in sla if x is not None]
    return figures(
        issued=len(facts),
        transfers_in=sum(1 for f in facts if f.get("channel") == "transfer"),
        status=Counter(f["status"] for f in facts),
        waiting=sorted(f["waiting_seconds"] for f in called),
        service=sorted(f["service_seconds"] for f in facts
                       if f["status"] == "completed" and f.get("service_seconds") is not None),
        on_time=sum(sla), timed=len(sla),
        channels=Counter(f.get("channel") or "unknown" for f in facts),
        priorities=Counter(f.get("priority") or "regular" for f in facts))


def figures(issued, transfers_in, status, waiting, service, on_time, timed, channels, priorities):
    """The figures of a group, from its counts and its sorted waiting and service times
    (what :func:`summarise` and the running figures both report)."""
    return {
        "issued": issued,
        "transfers_in": transfers_in,
        "served": status["completed"],
        "no_show": status["no_show"],
        "cancelled": status["cancelled"],
        "transferred": status["transferred"],
        "waiting": status["waiting"],
        "in_service": status["called"] + status["serving"],
        "waiting_time": stats_of_sorted(waiting),
        "service_time": stats_of_sorted(service),
        "within_target": {"count": on_time, "of": timed,
                          "share": round(on_time / timed, 4) if timed else None},
        "channels": dict(sorted(channels.items())),
        "priorities": dict(sorted(priorities.items())),
    }


def group(facts, key):
    groups = defaultdict(list)
    for fact in facts:
        groups[key(fact)].append(fact)
    return dict(sorted(groups.items(), key=lambda kv: (kv[0] is None, kv[0])))


def daily_report(facts, site, day, timezone, names=None):
    """Every figure of one site and local day, overall and per agency, service, counter
    and hour. Arrivals are counted in the hour they were issued, services in the hour
    they were completed; each leg of a transferred visit counts once for its service."""
    names = names or {}
    facts = [f for f in counted(facts) if f["site"] == site and f["local_day"] == day]
    by_agency = group(facts, lambda f: f["agency"])
    by_service = group(facts, lambda f: f["service"])
    by_counter = group([f for f in facts if f.get("counter")], lambda f: f["counter"])
    issued_hours = group(facts, lambda f: local_hour(f["issued_at"], timezone))
    served_hours = Counter(local_hour(f["ended_at"], timezone) for f in facts
                           if f["status"] == "completed")
    hours = [{"hour": hour, "issued": len(issued_hours.get(hour, [])),
              "served": served_hours.get(hour, 0),
              "waiting_time": stats(f.get("waiting_seconds") for f in issued_hours.get(hour, []))}
             for hour in sorted(set(issued_hours) | set(served_hours))]
    busiest = sorted((h for h in hours if h["issued"]), key=lambda h: (-h["issued"], h["hour"]))[:3]
    return {
        "site": site,
        "date": day,
        "timezone": timezone,
        "totals": summarise(facts),
        "agencies": [{"agency": code, "name": names.get(("agencies", code)), **summarise(items)}
                     for code, items in by_agency.items()],
        "services": [{"service": code, "agency": usual(Counter(f["agency"] for f in items)),
                      "name": names.get(("services", code)), **summarise(items)}
                     for code, items in by_service.items()],
        "counters": [{"counter": code, "agency": usual(Counter(f["agency"] for f in items)),
                      "served": sum(1 for f in items if f["status"] == "completed"),
                      "busy_seconds": busy_seconds(f.get("service_seconds") or 0 for f in items
                                                   if f["status"] in BUSY),
                      "waiting_time": stats(f.get("waiting_seconds") for f in items)}
                     for code, items in by_counter.items()],
        "hours": hours,
        "busiest_hours": [h["hour"] for h in busiest],
    }


def breakdown(facts, site, day, timezone):
    """The day's figures per agency x service x counter x hour of issue: one row for
    every combination that happened (legs never called have counter null)."""
    facts = [f for f in counted(facts) if f["site"] == site and f["local_day"] == day]
    cells = group(facts, lambda f: (f["agency"], f["service"], f.get("counter") or "",
                                    local_hour(f["issued_at"], timezone)))
    rows = []
    for (agency, service, counter, hour), items in cells.items():
        figures = summarise(items)
        rows.append({"agency": agency, "service": service, "counter": counter or None,
                     "hour": hour, **{k: figures[k] for k in (
                         "issued", "served", "no_show", "cancelled", "transferred",
                         "waiting_time", "service_time", "within_target")}})
    return {"site": site, "date": day, "timezone": timezone, "rows": rows}


# -- exports ---------------------------------------------------------------------------------

DAILY_CSV_COLUMNS = (
    "site", "date", "scope", "code", "agency", "issued", "transfers_in", "served", "no_show",
    "cancelled", "transferred", "waiting", "waiting_mean_s", "waiting_median_s", "waiting_p90_s",
    "waiting_max_s", "service_mean_s", "service_median_s", "service_p90_s", "service_max_s",
    "within_target_share",
)


def daily_csv_rows(report):
    def row(scope, code, agency, figures):
        w, s = figures["waiting_time"], figures["service_time"]
        values = [report["site"], report["date"], scope, code, agency, figures["issued"],
                  figures["transfers_in"], figures["served"], figures["no_show"],
                  figures["cancelled"], figures["transferred"], figures["waiting"],
                  w["mean"], w["median"], w["p90"], w["max"], s["mean"], s["median"], s["p90"],
                  s["max"], figures["within_target"]["share"]]
        return ["" if v is None else v for v in values]

    rows = [row("site", report["site"], "", report["totals"])]
    rows += [row("agency", a["agency"], a["agency"], a) for a in report["agencies"]]
    rows += [row("service", s["service"], s["agency"], s) for s in report["services"]]
    return rows


def prometheus_text(facts_today, ingested_total=None, backlog=None):
    """/metrics: waiting now, served today and waiting p90 per agency (today's facts);
    the events ingested when ``ingested_total`` is given, and ``backlog`` (events waiting
    for reporting, by kind) when the broker answered."""
    lines = []
    facts_today = counted(facts_today)

    def metric(name, kind, help_text, samples):
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
            lines.append(f"{name}{{{label_text}}} {value}" if labels else f"{name} {value}")

    by_service = group(facts_today, lambda f: (f["site"], f["agency"], f["service"]))
    by_agency = group(facts_today, lambda f: (f["site"], f["agency"]))
    metric("antre_waiting_now", "gauge", "Tickets waiting now, per service.",
           [((("site", s), ("agency", a), ("service", v)),
             sum(1 for f in items if f["status"] == "waiting"))
            for (s, a, v), items in by_service.items()])
    metric("antre_served_today", "gauge", "Tickets served (completed) today, per agency.",
           [((("site", s), ("agency", a)), sum(1 for f in items if f["status"] == "completed"))
            for (s, a), items in by_agency.items()])
    p90s = []
    for (s, a), items in by_agency.items():
        p90 = stats(f.get("waiting_seconds") for f in items)["p90"]
        if p90 is not None:
            p90s.append(((("site", s), ("agency", a)), p90))
    metric("antre_waiting_seconds_p90", "gauge",
           "90th percentile (nearest rank) of today's waiting time in seconds, per agency.", p90s)
    if ingested_total is not None:
        metric("antre_events_ingested_total", "counter", "Distinct events stored by reporting.",
               [((), ingested_total)])
    if backlog is not None:
        metric("antre_events_backlog", "gauge",
               "Events waiting in reporting's queues: ready (not yet ingested), retrying, "
               "dead (dead-lettered, for an operator).",
               [((("queue", kind),), count) for kind, count in sorted(backlog.items())])
    return "\n".join(lines) + "\n"


def _escape(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
