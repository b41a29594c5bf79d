"""Running figures of one site and local day, kept current fact by fact (no I/O).

:func:`services.reporting.domain.daily_report` computes a day's figures from all of its
facts. :class:`RunningDay` gives the same report (``tests/unit/reporting/
test_running.py`` checks it on random days) but keeps every figure as it goes: when a
ticket's fact changes, its old contribution is taken out of each group it belonged to
and its new one is put in. A report is then built from the groups alone, never from
the day's facts: counts and tallies as they are, times as sorted lists (so the median,
p90 and maximum are read off, and the mean is an exact sum).
"""

from bisect import bisect_left, insort
from collections import Counter

from services.reporting.domain import (
    BUSY,
    busy_seconds,
    counted,
    figures,
    local_hour,
    stats_of_sorted,
    usual,
    within_target,
)


class SortedValues:
    """A sorted multiset of numbers."""

    __slots__ = ("values",)

    def __init__(self):
        self.values = []

    def add(self, value, sign):
        if sign > 0:
            insort(self.values, value)
            return
        index = bisect_left(self.values, value)
        if index < len(self.values) and self.values[index] == value:
            del self.values[index]

    def __len__(self):
        return len(self.values)


class Tally(Counter):
    """A counter that forgets a key whose count falls to zero."""

    def add(self, key, sign):
        self[key] += sign
        if self[key] <= 0:
            del self[key]


class Figures:
    """What :func:`services.reporting.domain.summarise` reports of a group of facts."""

    __slots__ = ("issued", "transfers_in", "status", "waiting", "service", "sla_count",
                 "sla_of", "channels", "priorities", "agencies")

    def __init__(self):
        self.issued = self.transfers_in = self.sla_count = self.sla_of = 0
        self.status, self.channels, self.priorities, self.agencies = Tally(), Tally(), Tally(), Tally()
        self.waiting, self.service = SortedValues(), SortedValues()

    def add(self, fact, sign):
        self.issued += sign
        self.transfers_in += sign * (fact.get("channel") == "transfer")
        self.status.add(fact["status"], sign)
        self.channels.add(fact.get("channel") or "unknown", sign)
        self.priorities.add(fact.get("priority") or "regular", sign)
        self.agencies.add(fact["agency"], sign)
        if fact.get("waiting_seconds") is not None:
            self.waiting.add(fact["waiting_seconds"], sign)
            on_time = within_target(fact)
            if on_time is not None:
                self.sla_of += sign
                self.sla_count += sign * on_time
        if fact["status"] == "completed" and fact.get("service_seconds") is not None:
            self.service.add(fact["service_seconds"], sign)

    def report(self):
        return figures(self.issued, self.transfers_in, self.status, self.waiting.values,
                       self.service.values, self.sla_count, self.sla_of, self.channels,
                       self.priorities)


class CounterFigures:
    __slots__ = ("facts", "served", "busy", "waiting", "agencies")

    def __init__(self):
        self.facts = self.served = 0
        self.busy, self.waiting, self.agencies = SortedValues(), SortedValues(), Tally()

    def add(self, fact, sign):
        self.facts += sign
        self.agencies.add(fact["agency"], sign)
        self.served += sign * (fact["status"] == "completed")
        if fact["status"] in BUSY:
            self.busy.add(fact.get("service_seconds") or 0, sign)
        if fact.get("waiting_seconds") is not None:
            self.waiting.add(fact["waiting_seconds"], sign)


class HourFigures:
    __slots__ = ("issued", "served", "waiting")

    def __init__(self):
        self.issued = self.served = 0
        self.waiting = SortedValues()


def _ordered(groups):
    """Group keys as :func:`services.reporting.domain.group` orders them."""
    return sorted(groups, key=lambda key: (key is None, key))


class RunningDay:
    """The figures of ``site`` on local ``day`` (in ``timezone``), kept current by
    :meth:`apply`; :meth:`report` is ``daily_report`` of the facts applied so far."""

    def __init__(self, site, day, timezone):
        self.site, self.day, self.timezone = site, day, timezone
        self.facts = {}  # every fact applied (counted or not), by ticket id
        self.totals = Figures()
        self.agencies, self.services, self.counters, self.hours = {}, {}, {}, {}

    def apply(self, fact):
        """Take ``fact`` (the latest of its ticket) into the figures; False when it is of
        another day or older than the one applied before (fewer events)."""
        if fact["site"] != self.site or fact["local_day"] != self.day:
            return False
        old = self.facts.get(fact["_id"])
        if old is not None:
            if old.get("events", 0) > fact.get("events", 0):
                return False
            self._count(old, -1)
        self.facts[fact["_id"]] = fact
        self._count(fact, +1)
        return True

    def counted_facts(self):
        return counted(self.facts.values())

    def _count(self, fact, sign):
        if not fact.get("issued_seen", True):
            return  # not counted until its ticket is known to have been issued
        self.totals.add(fact, sign)
        for groups, key in ((self.agencies, fact["agency"]), (self.services, fact["service"])):
            figures = groups.get(key) or groups.setdefault(key, Figures())
            figures.add(fact, sign)
            if not figures.issued:
                del groups[key]
        if fact.get("counter"):
            figures = self.counters.get(fact["counter"]) or self.counters.setdefault(
                fact["counter"], CounterFigures())
            figures.add(fact, sign)
            if not figures.facts:
                del self.counters[fact["counter"]]
        issued_hour = local_hour(fact["issued_at"], self.timezone)
        hour = self._hour(issued_hour)
        hour.issued += sign
        if fact.get("waiting_seconds") is not None:
            hour.waiting.add(fact["waiting_seconds"], sign)
        if fact["status"] == "completed":
            self._hour(local_hour(fact["ended_at"], self.timezone)).served += sign
        for key in {issued_hour, local_hour(fact["ended_at"], self.timezone)}:
            figures = self.hours.get(key)
            if figures is not None and not figures.issued and not figures.served:
                del self.hours[key]

    def _hour(self, key):
        return self.hours.get(key) or self.hours.setdefault(key, HourFigures())

    def report(self, names=None):
        names = names or {}
        hours = [{"hour": key, "issued": self.hours[key].issued,
                  "served": self.hours[key].served,
                  "waiting_time": stats_of_sorted(self.hours[key].waiting.values)}
                 for key in sorted(self.hours)]
        busiest = sorted((h for h in hours if h["issued"]),
                         key=lambda h: (-h["issued"], h["hour"]))[:3]
        return {
            "site": self.site,
            "date": self.day,
            "timezone": self.timezone,
            "totals": self.totals.report(),
            "agencies": [{"agency": code, "name": names.get(("agencies", code)),
                          **self.agencies[code].report()} for code in _ordered(self.agencies)],
            "services": [{"service": code, "agency": usual(self.services[code].agencies),
                          "name": names.get(("services", code)), **self.services[code].report()}
                         for code in _ordered(self.services)],
            "counters": [{"counter": code, "agency": usual(figures.agencies),
                          "served": figures.served,
                          "busy_seconds": busy_seconds(figures.busy.values),
                          "waiting_time": stats_of_sorted(figures.waiting.values)}
                         for code, figures in ((c, self.counters[c])
                                               for c in _ordered(self.counters))],
            "hours": hours,
            "busiest_hours": [h["hour"] for h in busiest],
        }
