"""The queue's rules, in plain Python with no I/O.

A *visit* is one citizen's trip through the MPP; each *leg* of it is a ticket for one
service. A ticket moves through::

    waiting --call--> called --start--> serving --complete--> completed
       |                |  \\--recall (counted, stays called)
       |                |  \\--no-show (after enough recalls) --> no_show
       |                \\--return (its counter closed) --> waiting, at the front
       \\--cancel--> cancelled          serving --transfer--> transferred (+ a new leg)

Anything else is refused with :class:`InvalidTransition` (HTTP 409) naming the
current status.
"""

import math
from dataclasses import dataclass

from services.kernel.errors import Conflict, Forbidden, InvalidInput
from services.kernel.events import Event, isoformat
from services.queue import messages

WAITING, CALLED, SERVING = "waiting", "called", "serving"
COMPLETED, NO_SHOW, CANCELLED, TRANSFERRED = "completed", "no_show", "cancelled", "transferred"
ACTIVE = (WAITING, CALLED, SERVING)
ENDED = (COMPLETED, NO_SHOW, CANCELLED, TRANSFERRED)

# UU 25/2009 art. 29: special treatment for these groups.
PRIORITY_GROUPS = ("disability", "elderly", "pregnant", "child", "disaster_victim")
CHANNELS = ("kiosk", "web", "appointment", "api")
APPOINTMENT_CHANNEL = "appointment"  # a booked slot, checked in by the booking service
TRANSFER_CHANNEL = "transfer"

# action -> (statuses it may start from, status it leads to)
TRANSITIONS = {
    "call": ((WAITING,), CALLED),
    "recall": ((CALLED,), CALLED),
    "start": ((CALLED,), SERVING),
    "complete": ((SERVING,), COMPLETED),
    "no_show": ((CALLED,), NO_SHOW),
    "cancel": ((WAITING,), CANCELLED),
    "transfer": ((SERVING,), TRANSFERRED),
    "return": ((CALLED,), WAITING),
}
# The event each action publishes (antre.ticket.<event>.v1).
EVENT_OF = {"call": "called", "recall": "recalled", "start": "serving", "complete": "completed",
            "no_show": "no_show", "cancel": "cancelled", "transfer": "transferred",
            "return": "returned", "issue": "issued"}

# Queue order: ``queue_key`` = arrival time in ms x 10^4 + the ticket's number, so two
# tickets of the same millisecond keep their numbering order. Tickets sent back to the
# front of their queue sort before every arrival.
KEY_SCALE = 10 ** 4
FRONT_OFFSET = 10 ** 13 * KEY_SCALE

COUNTER_OPEN, COUNTER_PAUSED, COUNTER_CLOSED = "open", "paused", "closed"


class InvalidTransition(Conflict):
    code = "invalid_transition"


def check_transition(ticket, action):
    allowed, target = TRANSITIONS[action]
    if ticket["status"] not in allowed:
        raise InvalidTransition(
            messages.invalid_transition(action, ticket["ticket_number"], ticket["status"]),
            ticket_id=ticket["_id"], status=ticket["status"], action=action,
        )
    return allowed[0], target


def check_counter_agency(code, counter_agency, operator_agency):
    """An operator acts at a counter only while it belongs to the operator's agency: the
    counter's agency as the catalog has it now, not as it was when the account (and its
    token's list of counters) was made. An admin who moves a counter to another agency
    takes it away from the old agency's operators at once."""
    if counter_agency != operator_agency:
        raise Forbidden(f"Loket {code} kini milik instansi {counter_agency}, bukan instansi "
                        f"{operator_agency} akun ini.", counter=code, agency=counter_agency)


def ticket_number(prefix, number):
    """'A', 17 -> 'A-017' (at least three digits)."""
    return f"{prefix}-{number:03d}"


def queue_key(arrived_at, number):
    return int(arrived_at.timestamp() * 1000) * KEY_SCALE + number % KEY_SCALE


def arrival(issued_at, appointment=None):
    """When a ticket counts as arriving, for its place in the queue: when it was issued;
    with an ``appointment``, at ``max(issued_at, slot_start)``. A holder who checks in
    early counts from the slot (and passes nobody who came before it); one who checks in
    late counts from check-in (the head start of the slot is lost)."""
    if appointment is None:
        return issued_at
    return max(issued_at, appointment["slot_start"])


def check_appointment(channel, appointment):
    """An appointment comes with the ``appointment`` channel, and that channel with one."""
    if (channel == APPOINTMENT_CHANNEL) != (appointment is not None):
        raise InvalidInput({"appointment": [messages.APPOINTMENT_CHANNEL]})


def due_key(now):
    """The queue keys below this one have arrived by ``now``: a ticket counting as
    arriving at or before ``now`` (to the millisecond), or returned to the front."""
    return (int(now.timestamp() * 1000) + 1) * KEY_SCALE


def is_due_appointment(ticket, now):
    """A regular ticket with an appointment whose slot time has come (and that has
    checked in): its queue key, ``max(issued_at, slot_start)``, is not after ``now``."""
    return (ticket.get("appointment") is not None and ticket.get("priority") is None
            and ticket["queue_key"] < due_key(now))


def ahead_of_newest(waiting, priority):
    """How many wait ahead of the ticket just issued, from its day's ``waiting`` counts
    per class (which already count it): priority tickets are called before regular
    ones, and within a class the newest is last."""
    priority_waiting = max(waiting.get("priority", 0), 0)
    if priority:
        return max(priority_waiting - 1, 0)
    return max(priority_waiting + max(waiting.get("regular", 0), 0) - 1, 0)


def front_key(ticket):
    """The queue key that puts a returned ticket ahead of every arrival, oldest first."""
    key = ticket["queue_key"]
    return key if key < 0 else key - FRONT_OFFSET


# -- the moment of a transition ----------------------------------------------------------

# Every moment a ticket records, in the order its lifecycle reaches them.
TICKET_MOMENTS = ("issued_at", "returned_at", "called_at", "last_recalled_at", "serving_at",
                  "ended_at")


def moment_of_transition(ticket, now):
    """When a transition of ``ticket`` happens: ``now``, but never before a moment the
    ticket already records. A request may have read its clock before a concurrent one
    moved the ticket on, or run on a replica whose clock is a little behind: times
    within a ticket still never go backwards (issued <= called <= serving <= ended),
    so its waiting and service seconds are never negative."""
    return max([now, *(ticket[name] for name in TICKET_MOMENTS if ticket.get(name))])


# -- call-next fairness ------------------------------------------------------------------

@dataclass(frozen=True)
class Pick:
    kind: str | None  # "priority", "regular" or None (nobody waiting)
    streak: int  # priority calls in a row while a regular ticket waited, after this pick


def choose_next(priority_waiting, regular_waiting, streak, max_streak):
    """Which class of ticket a counter calls next.

    Priority tickets (UU 25/2009) go first, but a counter calls at most ``max_streak``
    priority tickets in a row while a regular ticket is waiting for it; then the oldest
    regular ticket is called and the streak starts again. With nobody regular waiting,
    priority tickets are called without limit. Within a class: first come, first served.
    """
    if priority_waiting and (not regular_waiting or streak < max_streak):
        return Pick("priority", streak + 1 if regular_waiting else 0)
    if regular_waiting:
        return Pick("regular", 0)
    return Pick(None, streak)


@dataclass(frozen=True)
class Call:
    ticket: dict
    streak: int  # the counter's streak after this call (see :class:`Pick`)


def call_order(waiting, streak, max_streak, now, limit=None):
    """The order in which a counter calls ``waiting`` (the waiting tickets of its
    services) at ``now`` if nobody arrives, no other counter calls and no slot time
    comes meanwhile: successive :func:`choose_next` picks from the counter's ``streak``,
    each the first ticket of the lane picked. A list of :class:`Call`, at most ``limit``.
    Call-next calls the first one, so the list is what will be called.

    The priority lane (tickets claiming a group, with an appointment or not) is oldest
    ``queue_key`` first. The regular lane is its due appointments first (a slot whose
    time has come, :func:`is_due_appointment`), oldest ``queue_key`` first, i.e. by
    ``max(issued_at, slot_start)``; then every other regular ticket, oldest first (an
    appointment not yet due counts as arriving at its slot, behind everyone before it).
    A slot's place was reserved out of the service's capacity, so when its time comes
    it goes ahead of walk-ins; the priority streak rule then applies between the lanes
    as it does without appointments, so an appointment never passes what the priority
    rule would call next."""
    lanes = {"priority": sorted((t for t in waiting if t.get("priority") is not None),
                                key=lambda t: t["queue_key"]),
             "regular": sorted((t for t in waiting if t.get("priority") is None),
                               key=lambda t: (not is_due_appointment(t, now), t["queue_key"]))}
    taken = {"priority": 0, "regular": 0}
    order = []
    while limit is None or len(order) < limit:
        pick = choose_next(taken["priority"] < len(lanes["priority"]),
                           taken["regular"] < len(lanes["regular"]), streak, max_streak)
        if pick.kind is None:
            break
        order.append(Call(lanes[pick.kind][taken[pick.kind]], pick.streak))
        taken[pick.kind] += 1
        streak = pick.streak
    return order


# -- estimates -------------------------------------------------------------------------

def average_service_minutes(recent_seconds, typical_minutes):
    """Mean of recent service times (serving -> completed), else the catalog's typical."""
    if not recent_seconds:
        return float(typical_minutes)
    return sum(recent_seconds) / len(recent_seconds) / 60.0


def estimate_wait_minutes(ahead, open_counters, average_minutes):
    """Minutes until a ticket with ``ahead`` tickets before it is called.

    The open counters work through the queue in rounds of one average service time:
    the ticket is served in round ``ceil((ahead + 1) / counters)``. Pessimistic on
    purpose: every open counter is assumed busy, so even the next ticket waits one
    service time. With no counter open, one counter is assumed.
    """
    rounds = math.ceil((ahead + 1) / max(1, open_counters))
    return int(math.ceil(rounds * average_minutes))


# -- feedback (IKM, Permenpan RB 14/2017) -------------------------------------------------

IKM_ELEMENTS = tuple(f"u{i}" for i in range(1, 10))


# -- events ------------------------------------------------------------------------------

def _seconds(later, earlier):
    if later is None or earlier is None:
        return None
    return round((later - earlier).total_seconds(), 3)


def _iso(moment):
    return isoformat(moment) if moment else None


def appointment_data(appointment):
    """A ticket's appointment as answered and published: the booking code (not personal
    data) and the slot's start, or None."""
    if appointment is None:
        return None
    return {"booking": appointment["booking"], "slot_start": _iso(appointment["slot_start"])}


def ticket_data(ticket):
    """What every ticket event carries: enough for a subscriber never to call back.

    No personal data: the ticket carries none.
    """
    return {
        "ticket_id": ticket["_id"],
        "visit_id": ticket["visit_id"],
        "leg": ticket["leg"],
        "site": ticket["site"],
        "agency": ticket["agency"],
        "service": ticket["service"],
        "ticket_number": ticket["ticket_number"],
        "local_day": ticket["local_day"],
        "status": ticket["status"],
        "channel": ticket["channel"],
        "priority": ticket.get("priority"),
        "appointment": appointment_data(ticket.get("appointment")),
        "target_wait_minutes": ticket.get("target_wait_minutes"),
        "counter": ticket.get("counter"),
        "recalls": ticket.get("recalls", 0),
        "issued_at": _iso(ticket.get("issued_at")),
        "called_at": _iso(ticket.get("called_at")),
        "serving_at": _iso(ticket.get("serving_at")),
        "ended_at": _iso(ticket.get("ended_at")),
        "waiting_seconds": _seconds(ticket.get("called_at"), ticket.get("issued_at")),
        "service_seconds": _seconds(ticket.get("ended_at") if ticket["status"] in
                                    (COMPLETED, TRANSFERRED) else None, ticket.get("serving_at")),
        "transferred_from": ticket.get("transferred_from"),
        "transferred_to": ticket.get("transferred_to"),
    }


def _event(entity, action, about, record, moment, data):
    """An event about ``record`` at its site and agency, whose subject is the record's
    path (``about`` is ``tickets`` or ``counters``)."""
    return Event(entity=entity, action=action, subject=f"{about}/{record['_id']}",
                 site=record["site"], agency=record["agency"], data=data, time=moment)


def ticket_event(ticket, action, moment, **extra):
    return _event("ticket", EVENT_OF[action], "tickets", ticket, moment,
                  {**ticket_data(ticket), **extra})


def counter_event(counter, action, moment, **extra):
    return _event("counter", action, "counters", counter, moment, {
        "counter": counter["_id"],
        "site": counter["site"],
        "agency": counter["agency"],
        "services": counter.get("services", []),
        "state": counter["state"],
        # A pause's reason is free text typed by staff: it stays in the queue service.
        "at": isoformat(moment),
        **extra,
    })


def feedback_event(ticket, scores, has_comment, moment):
    return _event("feedback", "submitted", "tickets", ticket, moment, {
        "ticket_id": ticket["_id"],
        "visit_id": ticket["visit_id"],
        "site": ticket["site"],
        "agency": ticket["agency"],
        "service": ticket["service"],
        "counter": ticket.get("counter"),
        "local_day": ticket["local_day"],
        "scores": {k: scores[k] for k in IKM_ELEMENTS},
        "has_comment": has_comment,
        "submitted_at": isoformat(moment),
    })
