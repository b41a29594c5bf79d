"""What the queue can be asked to show. Nothing here writes.

``catalog`` is anything with ``site(code)``, ``service(code)``, ``current_counter(code)``,
``agencies()`` and ``services_of_site(code)`` returning catalog records (the service
uses RPC with a short cache; unit tests use a fake). ``clock()`` returns an aware
``datetime``.
"""

import hashlib
import hmac
from dataclasses import dataclass

from services.kernel import hours
from services.kernel.errors import NotFound, Unauthorized
from services.queue import domain
from services.queue.domain import CALLED, COUNTER_CLOSED, COUNTER_OPEN, SERVING, WAITING


@dataclass(frozen=True)
class Settings:
    max_priority_streak: int = 2  # priority calls in a row while a regular ticket waits
    no_show_after_recalls: int = 2  # recalls before a called ticket may be marked no-show
    estimate_window: int = 20  # recent completed services averaged for estimates
    default_site: str = "BWI"


# Ticket fields that stay inside the queue service.
PRIVATE = ("_id", "secret_hash", "version", "active_counter", "queue_key", "visit_key",
           "visit_arrived_at")

# What a kiosk shows of a service: its published standard, then its live queue.
KIOSK_STANDARD = ("code", "name", "ticket_prefix", "requirements", "procedure",
                  "completion_time", "fee", "product", "legal_basis", "complaint_channel",
                  "daily_quota")
KIOSK_LIVE = ("waiting", "estimated_wait_minutes", "open_counters", "issued_today")


def ticket_secret_digest(secret):
    """The stored digest of a ticket's secret (bare SHA-256: the secret is random)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def public(ticket, ahead=None, estimate=None, counters=None):
    """A ticket as answered; ``ahead``/``estimate``/``counters`` for a waiting one."""
    body = {k: v for k, v in ticket.items() if k not in PRIVATE}
    body["ticket_id"] = ticket["_id"]
    body["appointment"] = ticket.get("appointment")  # absent on tickets from before
    body["position"] = None if ahead is None else ahead + 1
    body["estimated_wait_minutes"] = estimate
    body["open_counters"] = counters
    return body


def counter_view(state):
    """A counter's state as answered."""
    return {"counter": state["_id"], "site": state["site"], "agency": state["agency"],
            "services": state["services"], "state": state["state"],
            "reason": state.get("reason"), "since": state.get("since")}


class QueueQueries:
    def __init__(self, repository, catalog, clock, settings=Settings()):
        self.repo = repository
        self.catalog = catalog
        self.clock = clock
        self.settings = settings

    # -- helpers the writes use too ------------------------------------------------------

    def today(self, site, now):
        return hours.local_day(site["timezone"], now).isoformat()

    def ticket(self, ticket_id):
        """The stored ticket, live or ended; :class:`NotFound` when there is none."""
        ticket = self.repo.ticket(ticket_id)
        if ticket is None:
            raise NotFound(f"Tiket {ticket_id} tidak ditemukan.", ticket_id=ticket_id)
        return ticket

    def estimate(self, site, service, ahead, local_day, recent=None, counters=None):
        """``(estimated minutes, open counters)``; ``recent`` service seconds and the
        open ``counters`` are looked up unless the caller already has them."""
        if recent is None:
            recent = self.repo.recent_service_seconds(site["code"], service["code"], local_day,
                                                      self.settings.estimate_window)
        if counters is None:
            counters = self.repo.open_counters_serving(site["code"], service["code"])
        average = domain.average_service_minutes(recent, service["typical_service_minutes"])
        return domain.estimate_wait_minutes(ahead, counters, average), counters

    def waiting_view(self, ticket, site=None, service=None):
        """A waiting ticket with its position and estimate."""
        site = site or self.catalog.site(ticket["site"])
        service = service or self.catalog.service(ticket["service"])
        ahead = self.repo.count_ahead(ticket)
        estimate, counters = self.estimate(site, service, ahead, ticket["local_day"])
        return public(ticket, ahead, estimate, counters)

    def counter_state_or_closed(self, code):
        """The counter's state; one never opened is closed (404 if the catalog has none)."""
        state = self.repo.counter(code)
        if state is not None:
            return state
        record = self.catalog.current_counter(code)
        return {"_id": code, "site": record["site"], "agency": record["agency"],
                "services": list(record["services"]), "state": COUNTER_CLOSED, "reason": None,
                "since": None, "version": None}

    # -- tickets ------------------------------------------------------------------------

    def check_secret(self, ticket_id, secret):
        ticket = self.ticket(ticket_id)
        if not secret or not hmac.compare_digest(ticket["secret_hash"],
                                                 ticket_secret_digest(secret)):
            raise Unauthorized("Kode rahasia tiket tidak ada atau salah.")
        return ticket

    def view(self, ticket_id):
        """A ticket as citizens and staff see it: status, position, estimate, counter."""
        ticket = self.ticket(ticket_id)
        if ticket["status"] != WAITING:
            return public(ticket)
        return self.waiting_view(ticket)

    def positions(self, ticket_ids):
        """``{ticket_id: position}`` (1 = next) of each waiting ticket among
        ``ticket_ids``; None for one that is not waiting or not known. One read of the
        tickets by id, and the counts ahead of each waiting one (on an index)."""
        found = {t["_id"]: t for t in self.repo.live_tickets_by_id(ticket_ids)}
        return {ticket_id: (self.repo.count_ahead(found[ticket_id]) + 1
                            if found.get(ticket_id, {}).get("status") == WAITING else None)
                for ticket_id in ticket_ids}

    def list_tickets(self, query, agency=None):
        """``(tickets, total)`` matching a loaded ticket-list query; ``agency`` limits
        them to one agency's (staff see their own agency only)."""
        mongo_query = {k: query[k] for k in ("site", "service", "counter", "status") if query[k]}
        if agency is not None:
            mongo_query["agency"] = agency
        if query["day"]:
            mongo_query["local_day"] = query["day"].isoformat()
        items, total = self.repo.list_tickets(mongo_query, query["limit"], query["offset"])
        return [{"ticket_id": item["_id"], **{k: v for k, v in item.items() if k not in PRIVATE}}
                for item in items], total

    # -- counters -----------------------------------------------------------------------

    def counter_status(self, code):
        """A counter's state and the ticket it holds (called or being served), if any."""
        state = self.counter_state_or_closed(code)
        active = self.repo.active_ticket_of(code)
        return {**counter_view(state), "ticket": self.view(active["_id"]) if active else None}

    def counter_waiting(self, code, limit):
        """The tickets waiting for counter ``code``'s services today in the order it
        will call them (:func:`domain.call_order`, the rule call-next follows), the first
        ``limit``, and how many wait in all. It assumes no other counter calls, nobody
        arrives and no slot time comes meanwhile. A counter that is not open starts a
        new streak when it opens. Three reads of at most ``limit`` tickets (priority,
        regular, appointments) and up to two counts."""
        state = self.counter_state_or_closed(code)
        site = self.catalog.site(state["site"])
        now = self.clock()
        local_day = self.today(site, now)
        waiting, total = {}, 0
        for priority in (True, False):
            first, count = self.repo.first_waiting(state["site"], state["services"],
                                                   local_day, priority, limit)
            waiting.update((t["_id"], t) for t in first)
            total += count
        # Due appointments go ahead of regular tickets that may be past the first ``limit``.
        first, _ = self.repo.first_waiting(state["site"], state["services"], local_day,
                                           False, limit, appointments=True, count=False)
        waiting.update((t["_id"], t) for t in first)
        streak = state.get("priority_streak", 0) if state["state"] == COUNTER_OPEN else 0
        order = domain.call_order(list(waiting.values()), streak,
                                  self.settings.max_priority_streak, now, limit)
        return {"counter": code, "state": state["state"], "local_day": local_day,
                "total": total,
                "items": [{"ticket_id": call.ticket["_id"], "call_position": n,
                           "appointment": call.ticket.get("appointment"),
                           **{k: v for k, v in call.ticket.items() if k not in PRIVATE}}
                          for n, call in enumerate(order, 1)]}

    # -- overview -----------------------------------------------------------------------

    def overview(self, site_code=None):
        """Per service of a site: waiting, now serving, average wait today, estimate.

        One read of the live tickets, one of the counters and one of the day's
        sequences (which keep the waits and service times of the tickets that ended),
        whatever the number of services and however many tickets the day has seen.
        """
        now = self.clock()
        site = self.catalog.site(site_code or self.settings.default_site)
        local_day = self.today(site, now)
        per_service = {}
        for t in self.repo.live_tickets(site["code"], local_day, {
                "service": 1, "status": 1, "ticket_number": 1, "counter": 1,
                "waiting_seconds": 1, "queue_key": 1}):
            entry = per_service.setdefault(t["service"], {"waiting": 0, "now_serving": [],
                                                          "waits": []})
            if t["status"] == WAITING:
                entry["waiting"] += 1
            elif t["status"] in (CALLED, SERVING):
                entry["now_serving"].append({"ticket_number": t["ticket_number"],
                                             "counter": t.get("counter"),
                                             "status": t["status"], "_key": t["queue_key"]})
            if t.get("waiting_seconds") is not None and t["status"] != WAITING:
                entry["waits"].append(t["waiting_seconds"])
        open_counters = {}
        for counter in self.repo.counters_of_site(site["code"]):
            if counter["state"] == COUNTER_OPEN:
                for code in counter["services"]:
                    open_counters[code] = open_counters.get(code, 0) + 1
        sequences = self.repo.sequences_of(site["code"], local_day)
        empty = {"waiting": 0, "now_serving": [], "waits": []}
        services = []
        for service in self.catalog.services_of_site(site["code"]):
            entry = per_service.get(service["code"], empty)
            sequence = sequences.get(service["code"], {})
            recent = list(reversed(sequence.get("recent_service") or []))
            estimate, counters = self.estimate(
                site, service, entry["waiting"], local_day,
                recent=recent[: self.settings.estimate_window],
                counters=open_counters.get(service["code"], 0))
            ended = sequence.get("waits") or {}
            count = ended.get("count", 0) + len(entry["waits"])
            seconds = ended.get("seconds", 0) + sum(entry["waits"])
            serving = sorted(entry["now_serving"], key=lambda t: t["_key"])
            services.append({
                "service": service["code"], "name": service["name"],
                "agency": service["agency"], "ticket_prefix": service["ticket_prefix"],
                "waiting": entry["waiting"],
                "now_serving": [{k: v for k, v in t.items() if k != "_key"} for t in serving],
                "open_counters": counters,
                "average_wait_minutes": round(seconds / count / 60, 1) if count else None,
                "estimated_wait_minutes": estimate,
                "issued_today": sequence.get("issued", 0),
                "daily_quota": service.get("daily_quota"),
            })
        state = hours.status(site, now)
        return {"site": site["code"], "local_day": local_day, "open": state.open,
                "next_open": state.next_open.isoformat() if state.next_open else None,
                "services": services}

    def kiosk(self, site_code):
        """What a kiosk shows: the site, its agencies and their active services with the
        published standard (requirements, fee, completion time) and the live queue."""
        record = self.catalog.site(site_code)
        overview = {s["service"]: s for s in self.overview(site_code)["services"]}
        agencies = self.catalog.agencies()
        by_agency = {}
        for service in self.catalog.services_of_site(site_code):
            live = overview.get(service["code"], {})
            by_agency.setdefault(service["agency"], []).append({
                **{k: service.get(k) for k in KIOSK_STANDARD},
                **{k: live.get(k) for k in KIOSK_LIVE},
            })
        state = hours.status(record, self.clock())
        return {
            "site": {"code": record["code"], "name": record["name"], "open": state.open,
                     "next_open": state.next_open.isoformat() if state.next_open else None,
                     "reason": state.reason,
                     "label": state.label},
            "agencies": [{"code": a["code"], "name": a["name"], "kind": a["kind"],
                          "services": sorted(by_agency[a["code"]], key=lambda s: s["name"])}
                         for a in agencies if a["code"] in by_agency],
        }
