"""Webhook targets: no internal addresses unless the operator allows them
(``WEBHOOK_ALLOWED_PRIVATE``), checked when a webhook is saved and on the address each
delivery actually connects to (issue 15, item 5). No real DNS: the resolver is injected."""

import ipaddress
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from services.kernel.errors import InvalidInput
from services.notify.commands import NotifyCommands, Settings
from services.notify.crypto import Vault
from services.notify.dependencies import TargetRefused, http_post
from services.notify.domain import WebhookTargets
from services.notify.repository import NotifyRepository
from tests.unit.notify.test_commands import CATALOG, Clock, Positions

PUBLIC = "93.184.216.34"


@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.8.9.10", "::1",                       # loopback
    "169.254.169.254", "fe80::1",                            # link-local (cloud metadata)
    "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "fc00::1", "fd12:3456::1",
    "0.0.0.0", "::",                                         # unspecified
    "224.0.0.1", "239.255.255.250", "ff02::1",               # multicast
    "100.64.0.1", "192.0.2.1", "198.51.100.1", "240.0.0.1",  # shared, documentation, reserved
    "::ffff:127.0.0.1", "::ffff:10.0.0.1",                   # IPv4 inside IPv6
])
def test_non_global_addresses_are_refused(address):
    refusal = WebhookTargets.from_setting("").refusal("hook.example", [address])
    assert refusal and address in refusal and "WEBHOOK_ALLOWED_PRIVATE" in refusal


@pytest.mark.parametrize("address", [PUBLIC, "8.8.8.8", "2606:4700:4700::1111"])
def test_global_addresses_pass(address):
    assert WebhookTargets.from_setting("").refusal("hook.example", [address]) is None


def test_every_address_a_name_resolves_to_must_pass_and_none_is_refused():
    targets = WebhookTargets.from_setting("")
    assert targets.refusal("hook.example", [PUBLIC, "10.0.0.5"]) is not None
    assert "tidak dapat ditemukan" in targets.refusal("hook.example", [])


def test_the_operator_allows_hosts_and_networks():
    targets = WebhookTargets.from_setting("127.0.0.1, 10.20.0.0/16, Intranet.Pemkab.local")
    assert targets.refusal("x", ["127.0.0.1"]) is None
    assert targets.refusal("x", ["10.20.3.4"]) is None
    assert targets.refusal("x", ["10.21.3.4"]) is not None
    assert targets.refusal("intranet.pemkab.local", ["192.168.5.5"]) is None
    assert targets.refusal("x", ["127.0.0.2"]) is not None, "only what is allowed"
    with pytest.raises(ValueError):
        WebhookTargets.from_setting("10.0.0.0/33")


def literal(host):
    ipaddress.ip_address(host)
    return [host]


def commands(database, allowed="", resolve=literal):
    repo = NotifyRepository(database("notify"))
    repo.ensure_indexes()
    return NotifyCommands(repo, Vault(), CATALOG, Positions().ask, Clock(),
                          Settings(webhook_allowed_private=allowed), resolve=resolve)


@pytest.mark.parametrize("url", ["http://127.0.0.1:9000/hook", "https://[::1]/hook",
                                 "http://169.254.169.254/latest/meta-data",
                                 "http://192.168.1.10/hook"])
def test_saving_a_webhook_to_an_internal_address_is_a_400_on_url(database, url):
    notify = commands(database)
    with pytest.raises(InvalidInput) as refused:
        notify.register_webhook("DISDUKCAPIL", url, "x" * 32)
    assert list(refused.value.fields) == ["url"]
    assert notify.repo.webhooks_for_agency("DISDUKCAPIL") == []


def test_saving_checks_what_the_name_resolves_to(database):
    notify = commands(database, resolve=lambda host: {"sneaky.example": ["10.0.0.7"],
                                                      "agency.example": [PUBLIC]}[host])
    with pytest.raises(InvalidInput):
        notify.register_webhook("DISDUKCAPIL", "https://sneaky.example/hook", "x" * 32)

    def unknown(host):
        raise OSError("no such host")

    with pytest.raises(InvalidInput) as refused:
        commands(database, resolve=unknown).register_webhook(
            "DISDUKCAPIL", "https://nowhere.example/hook", "x" * 32)
    assert "tidak dapat ditemukan" in refused.value.fields["url"][0]
    assert notify.register_webhook("DISDUKCAPIL", "https://agency.example/hook", "x" * 32)


def test_loopback_is_saved_when_the_operator_allows_it(database):
    notify = commands(database, allowed="127.0.0.1")
    assert notify.register_webhook("DISDUKCAPIL", "http://127.0.0.1:9000/hook", "x" * 32)


@pytest.fixture
def receiver():
    """A local endpoint (127.0.0.1) that counts what reaches it."""
    hits = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            hits.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(302 if self.path == "/moved" else 204)
            self.send_header("Location", "http://127.0.0.1:1/elsewhere")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port, hits
    server.shutdown()
    server.server_close()


def test_a_delivery_checks_the_address_it_connects_to(receiver):
    """A name that was public when saved and points inside at delivery (DNS rebinding)
    is refused before anything is sent; allowed, it is delivered; never redirected."""
    port, hits = receiver
    rebound = {"hooks.agency.example": ["127.0.0.1"]}.__getitem__
    url = f"http://hooks.agency.example:{port}/hook"
    with pytest.raises(TargetRefused) as refused:
        http_post(url, b"{}", {}, targets=WebhookTargets.from_setting(""), resolve=rebound)
    assert "127.0.0.1" in str(refused.value)
    assert hits == []
    allowed = WebhookTargets.from_setting("127.0.0.0/8")
    assert http_post(url, b"{}", {}, targets=allowed, resolve=rebound) == 204
    assert http_post(f"http://hooks.agency.example:{port}/moved", b"{}", {}, targets=allowed,
                     resolve=rebound) == 302, "a redirect is an answer, not followed"
    assert len(hits) == 2
