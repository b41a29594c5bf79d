"""What the queue can be asked to do that writes. Entry points call these and nothing
else writes; each answers with what it wrote (the read views are in ``queries.py``).

``catalog`` is anything with ``site(code)``, ``service(code)``, ``counter(code)`` and
``services_of_site(code)`` returning catalog records (the service uses RPC with a
short cache; unit tests use a fake). ``clock()`` returns an aware ``datetime``.
"""

import secrets
import uuid
from datetime import UTC

from services.kernel import hours
from services.kernel.errors import Conflict, InvalidInput
from services.queue import domain, messages
from services.queue.domain import (
    CALLED,
    COMPLETED,
    COUNTER_CLOSED,
    COUNTER_OPEN,
    COUNTER_PAUSED,
    SERVING,
    TRANSFERRED,
    WAITING,
)
from services.queue.queries import QueueQueries, Settings, public, ticket_secret_digest

# What staff do to a ticket at their counter (``act``), by name.
ACTIONS = ("recall", "start", "complete", "no_show")


class ServiceClosed(Conflict):
    code = "closed"


def _new_id():
    return uuid.uuid4().hex


class QueueCommands:
    def __init__(self, repository, catalog, clock, settings=Settings()):
        self.queries = QueueQueries(repository, catalog, clock, settings)  # reads before writes
        self.repo, self.catalog, self.clock, self.settings = repository, catalog, clock, settings

    # -- helpers ------------------------------------------------------------------------

    def _today(self, site, now):
        return self.queries.today(site, now)

    def _ticket(self, ticket_id):
        return self.queries.ticket(ticket_id)

    def _active_service(self, code, site_code=None):
        service = self.catalog.service(code)
        if not service.get("active", True):
            raise Conflict(f"Layanan {service['name']} sedang tidak tersedia.", service=code)
        if site_code and service["site"] != site_code:
            raise InvalidInput({"service": [f"Layanan {code} tidak tersedia di {site_code}."]})
        return service

    # -- issuing ------------------------------------------------------------------------

    def issue(self, service_code, channel="kiosk", priority=None, site_code=None,
              appointment=None):
        """Issue a ticket. Returns ``(ticket view, secret)``; the secret is shown once.

        ``appointment`` (``{"booking", "slot_start"}``, with channel ``appointment``
        only) is a booked slot the booking service checks in: the ticket counts as
        arriving at ``max(now, slot_start)`` (see :func:`domain.call_order`)."""
        now = self.clock()
        domain.check_appointment(channel, appointment)
        service = self._active_service(service_code, site_code)
        site = self.catalog.site(service["site"])
        state = hours.status(site, now)
        if not state.open:
            raise ServiceClosed(
                messages.closed(site["name"], state.reason, state.label, state.next_open),
                reason=state.reason, label=state.label,
                next_open=state.next_open.isoformat() if state.next_open else None)
        local_day = self._today(site, now)
        if appointment is not None:
            appointment = {"booking": appointment["booking"],
                           "slot_start": appointment["slot_start"].astimezone(UTC)}
            if self._today(site, appointment["slot_start"]) != local_day:
                raise InvalidInput({"appointment.slot_start": [messages.APPOINTMENT_OTHER_DAY]})
        sequence = self.repo.next_in_sequence(site["code"], service["code"], local_day,
                                              service.get("daily_quota"), priority=priority)
        number = sequence["value"]
        secret = secrets.token_urlsafe(18)
        ticket_id = _new_id()
        ticket = {
            "_id": ticket_id,
            "visit_id": ticket_id,
            "leg": 1,
            "site": site["code"],
            "agency": service["agency"],
            "service": service["code"],
            "prefix": service["ticket_prefix"],
            "number": number,
            "ticket_number": domain.ticket_number(service["ticket_prefix"], number),
            "local_day": local_day,
            "channel": channel,
            "priority": priority,
            "appointment": appointment,
            "target_wait_minutes": service["target_wait_minutes"],
            "status": WAITING,
            "issued_at": now,
            "visit_arrived_at": now,
            "queue_key": domain.queue_key(domain.arrival(now, appointment), number),
            "visit_key": domain.queue_key(now, number),  # where later legs of the visit queue
            "recalls": 0,
            "secret_hash": ticket_secret_digest(secret),
        }
        ahead = domain.ahead_of_newest(sequence.get("waiting") or {}, priority)
        recent = self.repo.recent_service_seconds(site["code"], service["code"], local_day,
                                                  self.settings.estimate_window, sequence)
        estimate, counters = self.queries.estimate(site, service, ahead, local_day,
                                                   recent=recent)
        event = domain.ticket_event(ticket, "issue", now, position=ahead + 1,
                                    estimated_wait_minutes=estimate)
        self.repo.insert_ticket(ticket, [event])
        return public(ticket, ahead, estimate, counters), secret

    # -- counters -----------------------------------------------------------------------

    def _counter_state(self, code):
        state = self.queries.counter_state_or_closed(code)
        if state["version"] is None and state["state"] == COUNTER_CLOSED:
            raise Conflict(f"Loket {code} belum dibuka.", counter=code, state=COUNTER_CLOSED)
        return state

    def open_counter(self, code):
        now = self.clock()
        record = self.catalog.current_counter(code)
        if not record.get("active", True):
            raise Conflict(f"Loket {code} dinonaktifkan di katalog.", counter=code)
        state = self.repo.counter(code)
        if state and state["state"] == COUNTER_OPEN:
            return state
        changes = {"site": record["site"], "agency": record["agency"],
                   "services": list(record["services"]), "state": COUNTER_OPEN,
                   "reason": None, "since": now, "priority_streak": 0}
        after = {"_id": code, **changes}
        event = domain.counter_event(after, "opened", now,
                                     previous_state=state["state"] if state else COUNTER_CLOSED)
        return self.repo.save_counter(after, changes, [event],
                                      state["version"] if state else None)

    def pause_counter(self, code, reason):
        now = self.clock()
        state = self._counter_state(code)
        if state["state"] != COUNTER_OPEN:
            raise Conflict(f"Loket {code} sedang {messages.COUNTER_STATE[state['state']]}.", counter=code,
                           state=state["state"])
        changes = {"state": COUNTER_PAUSED, "reason": reason, "since": now}
        event = domain.counter_event({**state, **changes}, "paused", now)
        return self.repo.save_counter(state, changes, [event], state["version"])

    def close_counter(self, code):
        """Close a counter. A ticket it called but did not start goes back to the front
        of its queue; a ticket being served must be completed or transferred first.

        Returns ``(counter state, returned ticket or None)``.
        """
        now = self.clock()
        state = self.queries.counter_state_or_closed(code)
        if state["state"] == COUNTER_CLOSED:
            return state, None  # closing a closed counter changes nothing
        active = self.repo.active_ticket_of(code)
        returned = None
        if active and active["status"] == SERVING:
            raise Conflict(f"Loket {code} sedang melayani {active['ticket_number']}; selesaikan "
                           f"atau alihkan dulu sebelum menutup loket.", counter=code,
                           ticket_id=active["_id"])
        if active and active["status"] == CALLED:
            returned = self._return_to_front(active, domain.moment_of_transition(active, now))
        changes = {"state": COUNTER_CLOSED, "reason": None, "since": now}
        event = domain.counter_event(
            {**state, **changes}, "closed", now,
            returned_ticket=returned["_id"] if returned else None)
        return self.repo.save_counter(state, changes, [event], state["version"]), returned

    def _return_to_front(self, ticket, now):
        domain.check_transition(ticket, "return")
        changes = {"status": WAITING, "queue_key": domain.front_key(ticket), "recalls": 0,
                   "returned_at": now}
        after = {**ticket, **changes, "counter": None, "called_at": None}
        event = domain.ticket_event(after, "return", now, from_counter=ticket.get("counter"))
        returned = self.repo.update_ticket(ticket, "return", changes, [event],
                                           unset=("active_counter", "counter", "called_at"))
        self.repo.count_waiting_change(returned, +1)
        return returned

    def call_next(self, code):
        """Call the next ticket to counter ``code``, or return None when nobody waits."""
        now = self.clock()
        state = self._counter_state(code)
        if state["state"] != COUNTER_OPEN:
            raise Conflict(f"Loket {code} sedang {messages.COUNTER_STATE[state['state']]}; buka loket "
                           f"untuk memanggil.",
                           counter=code, state=state["state"])
        busy = self.repo.active_ticket_of(code)
        if busy:
            raise domain.InvalidTransition(
                f"Loket {code} masih menangani {busy['ticket_number']} "
                f"({messages.status(busy['status'])}); selesaikan dulu.", counter=code,
                ticket_id=busy["_id"],
                status=busy["status"], action="call")
        site = self.catalog.site(state["site"])
        local_day = self._today(site, now)
        for _attempt in range(20):
            # The head of each lane (priority, regular, appointments), on an index.
            heads = self.repo.waiting_heads(state["site"], state["services"], local_day)
            # The first of the call order (the counter console shows the same order).
            order = domain.call_order(heads, state.get("priority_streak", 0),
                                      self.settings.max_priority_streak, now, limit=1)
            if not order:
                return None
            streak = order[0].streak
            candidate = self.repo.live_ticket(order[0].ticket["_id"])
            if candidate is None or candidate["status"] != WAITING:
                continue  # another counter called it first: look again
            # The clock is read after the pick, and a ticket issued (or returned) by a
            # replica whose clock is a little ahead is still never called before that.
            called_at = domain.moment_of_transition(candidate, self.clock())
            changes = {"status": CALLED, "counter": code, "active_counter": code,
                       "called_at": called_at,
                       "waiting_seconds": (called_at - candidate["issued_at"]).total_seconds()}
            event = domain.ticket_event({**candidate, **changes}, "call", called_at)
            try:
                called = self.repo.update_ticket(candidate, "call", changes, [event],
                                                 extra_filter={"status": WAITING})
            except domain.InvalidTransition:
                continue  # another counter called it first: look again
            self.repo.set_streak(code, streak)
            self.repo.count_waiting_change(called, -1)
            return called
        raise Conflict("Terlalu banyak loket memanggil bersamaan; coba lagi.", counter=code)

    # -- ticket actions by staff ------------------------------------------------------------

    def _staff_ticket(self, ticket_id, counter, action):
        """The ticket ``counter`` does ``action`` on, and the action's moment: the clock
        read before the ticket, never before a moment the ticket already records."""
        now = self.clock()
        ticket = self._ticket(ticket_id)
        domain.check_transition(ticket, action)
        if ticket.get("counter") != counter:
            raise Conflict(f"Tiket {ticket['ticket_number']} ada di loket "
                           f"{ticket.get('counter')}, bukan {counter}.", ticket_id=ticket_id,
                           counter=ticket.get("counter"))
        return ticket, domain.moment_of_transition(ticket, now)

    def act(self, ticket_id, action, counter):
        """One of :data:`ACTIONS` on a ticket, by ``counter``."""
        return {"recall": self.recall, "start": self.start, "complete": self.complete,
                "no_show": self.no_show}[action](ticket_id, counter)

    def recall(self, ticket_id, counter):
        ticket, now = self._staff_ticket(ticket_id, counter, "recall")
        changes = {"recalls": ticket.get("recalls", 0) + 1, "last_recalled_at": now}
        event = domain.ticket_event({**ticket, **changes}, "recall", now)
        return self.repo.update_ticket(ticket, "recall", changes, [event])

    def start(self, ticket_id, counter):
        ticket, now = self._staff_ticket(ticket_id, counter, "start")
        changes = {"status": SERVING, "serving_at": now}
        event = domain.ticket_event({**ticket, **changes}, "start", now)
        return self.repo.update_ticket(ticket, "start", changes, [event])

    def complete(self, ticket_id, counter):
        ticket, now = self._staff_ticket(ticket_id, counter, "complete")
        changes = {"status": COMPLETED, "ended_at": now,
                   "service_seconds": (now - ticket["serving_at"]).total_seconds()}
        event = domain.ticket_event({**ticket, **changes}, "complete", now)
        return self._end(self.repo.update_ticket(ticket, "complete", changes, [event],
                                                 unset=("active_counter",)))

    def _end(self, written):
        self.repo.record_end(written, self.settings.estimate_window)
        return written

    def no_show(self, ticket_id, counter):
        ticket, now = self._staff_ticket(ticket_id, counter, "no_show")
        needed = self.settings.no_show_after_recalls
        if ticket.get("recalls", 0) < needed:
            raise domain.InvalidTransition(
                f"Panggil ulang {ticket['ticket_number']} {needed} kali sebelum menandai tidak "
                f"hadir (baru {ticket.get('recalls', 0)} kali).", ticket_id=ticket_id,
                status=ticket["status"], action="no_show", recalls=ticket.get("recalls", 0),
                recalls_needed=needed)
        changes = {"status": domain.NO_SHOW, "ended_at": now}
        event = domain.ticket_event({**ticket, **changes}, "no_show", now)
        return self._end(self.repo.update_ticket(ticket, "no_show", changes, [event],
                                                 unset=("active_counter",)))

    def cancel(self, ticket_id, by, reason=None):
        """Cancel a waiting ticket; ``by`` is "citizen" or "operator"."""
        now = self.clock()
        ticket = self._ticket(ticket_id)
        domain.check_transition(ticket, "cancel")
        now = domain.moment_of_transition(ticket, now)
        changes = {"status": domain.CANCELLED, "ended_at": now, "cancelled_by": by,
                   "cancel_reason": reason}
        # The reason is free text: it stays with the ticket, never in the event.
        event = domain.ticket_event({**ticket, **changes}, "cancel", now, cancelled_by=by,
                                    reason=None)
        return self._end(self.repo.update_ticket(ticket, "cancel", changes, [event]))

    def transfer(self, ticket_id, counter, target_code):
        """End this leg and queue a new leg of the same visit for ``target_code``.

        The new leg's place: it is ordered by the time the visit arrived at the MPP (its
        first ticket), so nobody who arrived later is served before it.
        """
        ticket, now = self._staff_ticket(ticket_id, counter, "transfer")
        target = self._active_service(target_code, ticket["site"])
        if target["code"] == ticket["service"]:
            raise InvalidInput({"service": ["Pilih layanan lain untuk pengalihan."]})
        number = self.repo.next_number(ticket["site"], target["code"], ticket["local_day"],
                                       arrival=False, priority=ticket.get("priority"))
        leg_id = _new_id()
        leg = {
            "_id": leg_id,
            "visit_id": ticket["visit_id"],
            "leg": ticket["leg"] + 1,
            "site": ticket["site"],
            "agency": target["agency"],
            "service": target["code"],
            "prefix": target["ticket_prefix"],
            "number": number,
            "ticket_number": domain.ticket_number(target["ticket_prefix"], number),
            "local_day": ticket["local_day"],
            "channel": domain.TRANSFER_CHANNEL,
            "priority": ticket.get("priority"),
            "appointment": None,  # the booked slot was the first service's
            "target_wait_minutes": target["target_wait_minutes"],
            "status": WAITING,
            "issued_at": now,
            "visit_arrived_at": ticket["visit_arrived_at"],
            "visit_key": ticket["visit_key"],
            "queue_key": ticket["visit_key"],
            "recalls": 0,
            "secret_hash": ticket["secret_hash"],
            "transferred_from": ticket["_id"],
        }
        changes = {"status": TRANSFERRED, "ended_at": now, "transferred_to": leg_id,
                   "service_seconds": (now - ticket["serving_at"]).total_seconds()}
        transferred = domain.ticket_event({**ticket, **changes}, "transfer", now,
                                          to_service=target["code"], to_agency=target["agency"],
                                          to_ticket_number=leg["ticket_number"])
        issued = domain.ticket_event(leg, "issue", now)
        changes["pending_leg"] = self.repo.pending_leg_document(leg, [issued])
        self._end(self.repo.update_ticket(ticket, "transfer", changes, [transferred],
                                          unset=("active_counter",)))
        self.repo.insert_pending_leg(ticket["_id"], changes["pending_leg"])
        return self.queries.waiting_view(leg, service=target)  # as written: no read-back

    # -- the end of a day ---------------------------------------------------------------

    def close_past_days(self):
        """Cancel tickets still waiting from an earlier local day of their site.

        Their citizens have gone home: the ticket ends as ``cancelled`` by ``system``
        with reason ``day_closed`` (and its event says so). Called or served tickets are
        left for their counter to finish. Returns how many were closed.
        """
        now = self.clock()
        closed = 0
        for site_code in self.repo.sites_with_waiting():
            today = self._today(self.catalog.site(site_code), now)
            for ticket in self.repo.waiting_before(site_code, today):
                ended_at = domain.moment_of_transition(ticket, now)
                changes = {"status": domain.CANCELLED, "ended_at": ended_at,
                           "cancelled_by": "system", "cancel_reason": "day_closed"}
                event = domain.ticket_event({**ticket, **changes}, "cancel", ended_at,
                                            cancelled_by="system", reason="day_closed")
                try:
                    self._end(self.repo.update_ticket(ticket, "cancel", changes, [event],
                                                      extra_filter={"status": WAITING}))
                    closed += 1
                except domain.InvalidTransition:
                    continue  # called in the meantime: no longer ours to close
        return closed

    def recount_waiting(self, pause):
        """Correct the waiting count of each service day that has tickets waiting;
        ``pause()`` is called between days (so that requests go on between them).
        Returns how many days were corrected."""
        fixed = 0
        for site, local_day in self.repo.live_waiting_days():
            fixed += self.repo.recount_waiting(site, local_day)
            pause()
        return fixed

    # -- feedback -----------------------------------------------------------------------

    def feedback(self, ticket_id, scores, comment=None):
        now = self.clock()
        ticket = self._ticket(ticket_id)
        if ticket["status"] != COMPLETED:
            raise domain.InvalidTransition(
                f"Survei kepuasan dapat diisi setelah layanan selesai; tiket "
                f"{ticket['ticket_number']} {messages.status(ticket['status'])}.",
                ticket_id=ticket_id,
                status=ticket["status"], action="feedback")
        record = {"_id": ticket_id, "visit_id": ticket["visit_id"], "site": ticket["site"],
                  "agency": ticket["agency"], "service": ticket["service"],
                  "counter": ticket.get("counter"), "local_day": ticket["local_day"],
                  "scores": scores, "comment": comment, "submitted_at": now}
        event = domain.feedback_event(ticket, scores, bool(comment), now)
        self.repo.insert_feedback(record, [event])
        return {k: v for k, v in record.items() if k != "_id"} | {"ticket_id": ticket_id}
