"""A scripted MPP day through the running queue service (over RPC).

Seeded, so every run is the same: citizens arrive in small groups for three services
of two agencies, one in ten a priority citizen; counters call, recall, serve, transfer
and mark no-shows; some citizens give up while waiting; some rate the service. The
script keeps its own tally of every ticket's final status and of every event the
queue must have published.
"""

import random
from collections import Counter

SERVICES = ["KTP-EL", "AKTA", "BPJS"]
COUNTERS = {"L01": "KTP-EL", "L02": "KTP-EL", "L03": "AKTA", "L04": "AKTA", "B01": "BPJS"}


class DayScript:
    def __init__(self, queue, seed=20261127):
        self.queue = queue
        self.rng = random.Random(seed)
        self.final = {}  # ticket_id -> final status
        self.events = Counter()  # "<entity>.<action>" -> how many
        self.waiting = []
        self.feedback = {}  # ticket_id -> scores

    def run(self, tickets):
        for code in COUNTERS:
            self.queue.open_counter(code)
            self.events["counter.opened"] += 1
        issued = 0
        while issued < tickets or self.waiting:
            for _ in range(self.rng.randint(2, 5)):
                if issued < tickets:
                    self._issue()
                    issued += 1
            if self.waiting and self.rng.random() < 0.05:
                self._give_up(self.rng.choice(self.waiting))
            for code in self.rng.sample(list(COUNTERS), k=3):
                self._serve_one(code)
        for code in COUNTERS:
            self.queue.close_counter(code)
            self.events["counter.closed"] += 1
        return self

    def _issue(self):
        priority = None
        if self.rng.random() < 0.1:
            priority = self.rng.choice(["elderly", "pregnant", "disability"])
        ticket = self.queue.issue_ticket(self.rng.choice(SERVICES),
                                         channel=self.rng.choice(["kiosk", "web"]),
                                         priority=priority)
        self.events["ticket.issued"] += 1
        self.final[ticket["ticket_id"]] = "waiting"
        self.waiting.append(ticket["ticket_id"])

    def _give_up(self, ticket_id):
        if self.queue.get_ticket(ticket_id)["status"] != "waiting":
            return
        self.queue.cancel(ticket_id, by="citizen")
        self.waiting.remove(ticket_id)
        self.events["ticket.cancelled"] += 1
        self.final[ticket_id] = "cancelled"

    def _serve_one(self, code):
        ticket = self.queue.call_next(code)
        if ticket is None:
            return
        tid = ticket["ticket_id"]
        self.waiting.remove(tid)
        self.events["ticket.called"] += 1
        roll = self.rng.random()
        if roll < 0.08:
            for _ in range(2):
                self.queue.act(tid, "recall", code)
                self.events["ticket.recalled"] += 1
            self.queue.act(tid, "no_show", code)
            self.events["ticket.no_show"] += 1
            self.final[tid] = "no_show"
            return
        self.queue.act(tid, "start", code)
        self.events["ticket.serving"] += 1
        if roll < 0.16 and ticket["leg"] == 1:
            target = self.rng.choice([s for s in SERVICES if s != ticket["service"]])
            leg = self.queue.transfer(tid, code, target)
            self.events["ticket.transferred"] += 1
            self.events["ticket.issued"] += 1
            self.final[tid] = "transferred"
            self.final[leg["ticket_id"]] = "waiting"
            self.waiting.append(leg["ticket_id"])
            return
        self.queue.act(tid, "complete", code)
        self.events["ticket.completed"] += 1
        self.final[tid] = "completed"
        if self.rng.random() < 0.4:
            scores = {f"u{i}": self.rng.randint(2, 4) for i in range(1, 10)}
            self.queue.submit_feedback(tid, scores)
            self.feedback[tid] = scores
            self.events["feedback.submitted"] += 1
