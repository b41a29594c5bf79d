"""Notify's use cases with fakes (catalog, queue positions, clock, HTTP) and the
configured Mongo store."""

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from antre_devtools.fakes import FakeCatalog
from services.kernel.errors import InvalidInput, NotFound
from services.notify.commands import NotifyCommands, Settings
from services.notify.crypto import Vault
from services.notify.domain import signature
from services.notify.providers import DeliveryFailed, LogProvider
from services.notify.repository import NotifyRepository
from services.queue import domain as queue_domain

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 09:00 in Jakarta
NUMBER = "0812-3456-7890"


CATALOG = FakeCatalog(
    sites=[{"code": "BWI", "name": "MPP Banyuwangi", "timezone": "Asia/Jakarta"}],
    services=[{"code": "KTP-EL", "site": "BWI", "agency": "DISDUKCAPIL",
               "name": "Perekaman KTP-el"}],
    agencies=[{"code": "DISDUKCAPIL", "name": "Disdukcapil"}],
    counters=[{"code": f"BWI-L{n:02d}", "site": "BWI", "name": f"Loket {n}"} for n in (5, 12)])


class Clock:
    def __init__(self):
        self.now = T0

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


class Positions(dict):
    """The queue's ``positions`` RPC: one answer for many tickets; counts its calls."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def ask(self, ticket_ids):
        self.calls.append(list(ticket_ids))
        return {ticket_id: self.get(ticket_id) for ticket_id in ticket_ids}


@pytest.fixture
def positions():
    return Positions()


@pytest.fixture
def notify(database, clock, positions):
    repo = NotifyRepository(database("notify"))
    repo.ensure_indexes()
    return NotifyCommands(repo, Vault(), CATALOG, positions.ask, clock,
                          Settings(near_ahead=2, message_retry_seconds=10,
                                   webhook_retry_seconds=5, webhook_attempts=3),
                          resolve=lambda host: ["93.184.216.34"])  # agencies' hosts: public


def ticket(number="A-001", ticket_id="t1", **kw):
    return {"_id": ticket_id, "visit_id": ticket_id, "leg": 1, "site": "BWI",
            "agency": "DISDUKCAPIL", "service": "KTP-EL", "ticket_number": number,
            "local_day": "2026-11-23", "status": "waiting", "channel": "kiosk",
            "priority": None, "recalls": 0, "issued_at": T0, **kw}


def event(action, moment=T0, **kw):
    t = ticket(**kw)
    if action in ("call", "recall"):
        t.update(status="called", counter=kw.get("counter", "BWI-L05"), called_at=moment)
    elif action == "no_show":
        t.update(status="no_show", counter="BWI-L05", ended_at=moment)
    return queue_domain.ticket_event(t, action, moment).envelope("/antre/queue")


def view(ticket_id="t1", position=4):
    return {"ticket_id": ticket_id, "site": "BWI", "service": "KTP-EL", "local_day": "2026-11-23",
            "ticket_number": "A-001", "position": position}


# -- display announcements ---------------------------------------------------------------

def test_calls_and_recalls_become_numbered_announcements_once_each(notify):
    first, second = event("call", ticket_id="t1"), event("call", ticket_id="t2", number="A-002",
                                                          counter="BWI-L12")
    for e in (first, second, first):  # the first one is redelivered
        notify.on_event(e)
    notify.on_event(event("recall", ticket_id="t1", moment=T0 + timedelta(minutes=1)))
    items = notify.repo.announcements_after("BWI", 0)
    assert [(a["seq"], a["ticket_number"], a["kind"]) for a in items] == [
        (1, "A-001", "call"), (2, "A-002", "call"), (3, "A-001", "recall")]
    assert items[0]["text"]["id"] == "Nomor antrean A nol nol satu, silakan menuju loket lima."
    assert items[1]["text"]["en"].endswith("please proceed to counter twelve.")
    assert items[2]["text"]["id"].startswith("Panggilan ulang")
    assert (items[0]["counter_name"], items[0]["agency_name"]) == ("Loket 5", "Disdukcapil")
    assert [a["seq"] for a in notify.repo.announcements_after("BWI", 2)] == [3]
    assert [a["seq"] for a in notify.repo.recent_announcements("BWI", 2)] == [3, 2]


# -- citizen messages ---------------------------------------------------------------------

def test_a_bad_number_is_refused_without_repeating_it(notify):
    with pytest.raises(InvalidInput) as caught:
        notify.subscribe(view(), "99-77")
    assert set(caught.value.fields) == {"phone"} and "99-77" not in str(caught.value.fields)


def test_the_number_is_kept_encrypted_and_shown_masked(notify):
    answer = notify.subscribe(view(), NUMBER, secret="s3cr3t")
    assert answer == {"ticket_id": "t1", "phone": "+62812*****890", "lang": "id"}
    stored = str(list(notify.repo.db.subscriptions.find())) + str(list(notify.repo.db.messages.find()))
    assert "3456" not in stored and "s3cr3t" not in stored, "number and link are sealed"


def test_messages_issued_near_called_once_each(notify, positions):
    notify.subscribe(view(position=5), NUMBER, secret="s3cr3t")
    provider = LogProvider()
    assert notify.send_due_messages(provider) == 1
    assert provider.sent[0][0] == "+62812*****890"
    assert provider.sent[0][1].startswith("Antre MPP Banyuwangi: nomor antrean A-001 untuk "
                                          "Perekaman KTP-el. Ada 4 antrean sebelum Anda.")
    assert provider.sent[0][1].endswith("/tiket/t1#s3cr3t")
    positions["t1"] = 4
    notify.on_event(event("call", ticket_id="other", number="A-000"))
    assert notify.send_due_messages(provider) == 0, "3 ahead: not near yet (threshold 2)"
    positions["t1"] = 3
    for _ in range(2):  # each later move of the queue: the message goes once
        notify.on_event(event("cancel", ticket_id="another", number="A-009"))
    assert notify.send_due_messages(provider) == 1
    assert provider.sent[-1][1] == "Antre: tinggal 2 antrean lagi sebelum A-001. Mohon bersiap " \
                                   "di dekat loket."
    notify.on_event(event("call"))
    notify.on_event(event("call"))
    assert notify.send_due_messages(provider) == 1
    assert provider.sent[-1][1] == "Antre: nomor A-001 dipanggil. Silakan menuju Loket 5 sekarang."
    assert [m["kind"] for m in notify.repo.messages_of("t1")] == ["issued", "near", "called"]
    assert all("text" not in m for m in notify.repo.messages_of("t1"))


def test_a_move_of_the_line_asks_the_queue_once_for_every_watched_ticket(notify, positions):
    for i in range(12):
        notify.subscribe(view(f"t{i}", position=i + 4), NUMBER, secret="s3cr3t")
        positions[f"t{i}"] = i + 3
    notify.on_event(event("call", ticket_id="other", number="A-000"))
    assert len(positions.calls) == 1, "one call for twelve tickets"
    assert sorted(positions.calls[0]) == sorted(f"t{i}" for i in range(12))
    near = {m["ticket_id"] for m in notify.repo.db.messages.find({"kind": "near"})}
    assert near == {"t0"}, "only the one with 2 ahead"
    positions.calls.clear()
    notify.on_event(event("call", ticket_id="other2", number="A-001"))
    assert "t0" not in positions.calls[0], "a ticket told once is not asked about again"


def test_no_show_message_and_english(notify):
    notify.subscribe(view(), NUMBER, lang="en")
    notify.on_event(event("no_show"))
    provider = LogProvider()
    notify.send_due_messages(provider)
    assert provider.sent[-1][1].startswith("Antre: ticket A-001 was not present when called.")


class FlakyProvider:
    name = "flaky"

    def __init__(self, failures):
        self.failures = failures
        self.sent = []

    def send(self, phone, text):
        if self.failures:
            self.failures -= 1
            raise DeliveryFailed("gateway answered 503")
        self.sent.append(text)


def test_failed_messages_are_retried_with_backoff_and_recorded(notify, clock):
    notify.subscribe(view(), NUMBER)
    provider = FlakyProvider(failures=2)
    assert notify.send_due_messages(provider) == 0
    assert notify.send_due_messages(provider) == 0, "not due again yet"
    clock.now += timedelta(seconds=10)
    assert notify.send_due_messages(provider) == 0  # second failure: next in 20 s
    clock.now += timedelta(seconds=19)
    assert notify.send_due_messages(provider) == 0
    clock.now += timedelta(seconds=1)
    assert notify.send_due_messages(provider) == 1
    [message] = notify.repo.messages_of("t1")
    assert (message["status"], message["attempts"]) == ("sent", 3)
    assert [entry.get("error") for entry in message["log"]] == [
        "DeliveryFailed: gateway answered 503", "DeliveryFailed: gateway answered 503", None]


def test_numbers_are_deleted_after_their_day(notify, clock):
    notify.subscribe(view(), NUMBER)
    assert notify.forget_past_days() == 0
    clock.now += timedelta(days=1)
    assert notify.forget_past_days() == 1
    assert notify.repo.subscription("t1") is None
    assert notify.send_due_messages(LogProvider()) == 0
    [message] = notify.repo.messages_of("t1")
    assert message["status"] == "failed" and "deleted" in message["log"][-1]["error"]


# -- webhooks -----------------------------------------------------------------------------

class FakeEndpoint:
    def __init__(self, statuses):
        self.statuses = list(statuses)
        self.received = []

    def __call__(self, url, body, headers):
        self.received.append((url, body, headers))
        return self.statuses.pop(0)


def test_an_agency_gets_its_own_events_signed(notify):
    hook = notify.register_webhook("DISDUKCAPIL", "http://agency.example/hook", "x" * 32)
    other = notify.register_webhook("BPJSKES", "http://bpjs.example/hook", "y" * 32)
    calls_only = notify.register_webhook("DISDUKCAPIL", "http://agency.example/calls",
                                         "z" * 32, ["antre.ticket.called.*"])
    everything = notify.register_webhook("*", "http://mpp.example/all", "w" * 32)
    assert "secret" not in hook
    called = event("call")
    for delivered in (event("issue"), called, called):  # the call is redelivered
        notify.on_event(delivered)
    endpoint = FakeEndpoint([200] * 10)
    assert notify.deliver_due(endpoint) == 5
    urls = sorted(url for url, _, _ in endpoint.received)
    assert urls == ["http://agency.example/calls", "http://agency.example/hook",
                    "http://agency.example/hook", "http://mpp.example/all",
                    "http://mpp.example/all"]
    assert notify.repo.list_deliveries(other["webhook_id"]) == []
    url, body, headers = next(r for r in endpoint.received if r[0].endswith("/hook"))
    expected = hmac.new(b"x" * 32, f"{headers['X-Antre-Timestamp']}.".encode() + body,
                        hashlib.sha256).hexdigest()
    assert headers["X-Antre-Signature"] == f"sha256={expected}"
    assert headers["Content-Type"] == "application/cloudevents+json"
    assert calls_only["event_types"] == ["antre.ticket.called.*"]
    assert everything["agency"] == "*"


def test_failed_deliveries_back_off_then_go_dead_and_can_be_redelivered(notify, clock):
    hook = notify.register_webhook("DISDUKCAPIL", "http://agency.example/hook", "x" * 32)
    notify.on_event(event("issue"))
    endpoint = FakeEndpoint([500, 500, 500, 200])
    assert notify.deliver_due(endpoint) == 1
    clock.now += timedelta(seconds=5)
    assert notify.deliver_due(endpoint) == 1
    clock.now += timedelta(seconds=9)
    assert notify.deliver_due(endpoint) == 0, "the second retry waits 10 s"
    clock.now += timedelta(seconds=1)
    assert notify.deliver_due(endpoint) == 1
    [dead] = notify.repo.list_deliveries(hook["webhook_id"], "dead")
    assert dead["attempts"] == 3 and [e["status_code"] for e in dead["log"]] == [500, 500, 500]
    notify.redeliver(dead["_id"])
    assert notify.deliver_due(endpoint) == 1
    [sent] = notify.repo.list_deliveries(hook["webhook_id"], "sent")
    assert sent["log"][-1]["status_code"] == 200
    with pytest.raises(NotFound):
        notify.redeliver(dead["_id"])


def test_signature_is_hmac_sha256_of_timestamp_dot_body():
    body = b'{"id":"1"}'
    expected = hmac.new(b"secret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signature("secret", "1700000000", body) == f"sha256={expected}"


def test_a_wrong_key_is_refused_loudly_and_a_good_one_round_trips():
    with pytest.raises(ValueError, match="NOTIFY_SECRET_KEY is not a Fernet key"):
        Vault("change-me")
    from cryptography.fernet import Fernet

    vault = Vault(Fernet.generate_key().decode())
    sealed = vault.seal("+6281234567890")
    assert "3456" not in sealed and vault.open(sealed) == "+6281234567890"
    with pytest.raises(ValueError, match="the key changed"):
        Vault(Fernet.generate_key()).open(sealed)


def test_a_deactivated_webhook_parks_its_deliveries_and_a_bad_key_is_recorded(notify, clock):
    hook = notify.register_webhook("DISDUKCAPIL", "http://agency.example/hook", "x" * 32)
    notify.on_event(event("issue"))
    notify.repo.set_webhook_active(hook["webhook_id"], False)
    endpoint = FakeEndpoint([200])
    assert notify.deliver_due(endpoint) == 1 and endpoint.received == []
    [parked] = notify.repo.list_deliveries(hook["webhook_id"], "dead")
    assert parked["log"][-1]["error"] == "the webhook is deactivated"
    notify.repo.set_webhook_active(hook["webhook_id"], True)
    notify.vault = Vault()  # the key changed since the secret was sealed
    notify.redeliver(parked["_id"])
    assert notify.deliver_due(endpoint) == 1 and endpoint.received == []
    [retrying] = notify.repo.list_deliveries(hook["webhook_id"], "pending")
    assert "cannot decrypt" in retrying["log"][-1]["error"]


def test_zero_and_one_ahead_read_naturally():
    from services.notify.domain import ahead_phrases

    assert ahead_phrases("id", 0, "A-001")["ahead_text"] == "Anda berikutnya."
    assert ahead_phrases("en", 1, "A-001")["near_text"] == "1 ticket left before A-001."
    assert ahead_phrases("en", 2, "A-001")["ahead_text"] == "2 tickets ahead of you."


def test_the_log_provider_never_logs_the_secret_link(caplog):
    import logging

    caplog.set_level(logging.INFO)
    LogProvider().send("+6281234567890", "Pantau di http://mpp/tiket/t1#rahasia")
    assert "rahasia" not in caplog.text and "34567" not in caplog.text
