"""`make run` is a working hall for a newcomer: what it starts (``deploy/run-local.sh``, that
is ``antre_devtools/devrun.py``), checked through its one gateway address.

The hall runs on a throwaway vhost of the local RabbitMQ (management API on 15672), with
free ports for the services and the gateway (never the system test's nor 8001-8004/8080),
the in-memory store, and its run directory in pytest's ``tmp_path``. Checked: every
service's health through the gateway, the pages, the printed admin's login, a device token,
a ticket at any hour with the sample catalog, the dashboard refusing a made-up key, and
that Ctrl-C stops every process.
"""

import os
import signal
import socket
import stat
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from antre_devtools import devrun
from antre_devtools.harness import MANAGEMENT_URL, Vhost, free_port
from services import registry
from services.kernel import hours

ROOT = Path(__file__).resolve().parents[2]
START_SECONDS = 90.0
STOP_SECONDS = 30.0


def listening(port):
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def children_of(pid):
    """Pids whose parent is ``pid`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.fixture
def vhost():
    """A private vhost, made and removed by the harness ``make run`` itself uses."""
    private = Vhost(MANAGEMENT_URL, f"antre-make-run-{uuid.uuid4().hex[:8]}")
    private.create()
    yield private.name
    private.delete()


class Run:
    """``bash deploy/run-local.sh`` as ``make run`` starts it, with free ports."""

    def __init__(self, tmp_path, vhost):
        self.run_dir = tmp_path / "run"
        self.ports = {name: free_port() for name in registry.names()}
        self.gateway_port = free_port()
        self.gateway = f"http://127.0.0.1:{self.gateway_port}"
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("PUBLIC_", "ANTRE_")) and not key.endswith("_HTTP_ADDRESS")
               and key not in ("AUTH_SECRET", "ADMIN_TOKEN", "NOTIFY_SECRET_KEY", "CATALOG_SEED",
                               "DEFAULT_SITE", "MONGO_DB_PREFIX")}
        env.update({"AMQP_URI": f"amqp://guest:guest@127.0.0.1:5672/{quote(vhost, safe='')}",
                    "MONGO_URL": "mongomock://localhost/", "ANTRE_RUN_DIR": str(self.run_dir),
                    "ANTRE_GATEWAY_LISTEN": f"127.0.0.1:{self.gateway_port}",
                    "ANTRE_PUBLIC_HOST": "127.0.0.1", "PYTHON": sys.executable,
                    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"})
        for entry in registry.SERVICES:
            env[entry.address_variable] = f"127.0.0.1:{self.ports[entry.name]}"
        self.env = env
        self.out = open(tmp_path / "make-run.out", "wb")
        self.err_path = tmp_path / "make-run.err"
        self.err = open(self.err_path, "wb")
        self.process = None

    def start(self):
        self.process = subprocess.Popen(["bash", "deploy/run-local.sh"], cwd=ROOT, env=self.env,
                                        stdout=self.out, stderr=self.err,
                                        stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if "Antre ready at" in self.said():
                self.children = children_of(self.process.pid)
                return
            if self.process.poll() is not None:
                raise AssertionError(f"make run exited {self.process.returncode}:\n{self.said()}")
            time.sleep(0.2)
        raise AssertionError(f"make run not ready within {START_SECONDS:.0f}s:\n{self.said()}")

    def said(self):
        return self.err_path.read_text(errors="replace")

    def secrets(self):
        return devrun.read_env_file(self.run_dir / devrun.SECRETS_FILE)

    def stop(self):
        """Ctrl-C; returns the exit status (everything is killed if it does not stop)."""
        if self.process is None:
            return None
        children = getattr(self, "children", None) or children_of(self.process.pid)
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            status = self.process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            status = self.process.wait()
        for pid in children:  # only our own children, by pid
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.out.close()
        self.err.close()
        return status


@pytest.fixture
def hall(tmp_path, vhost):
    run = Run(tmp_path, vhost)
    try:
        run.start()
        yield run
    finally:
        run.stop()


def test_make_run_is_a_working_hall_behind_one_address(hall):
    gateway = hall.gateway
    said = hall.said()
    secrets_file = hall.run_dir / devrun.SECRETS_FILE
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    values = hall.secrets()
    for name in ("AUTH_SECRET", "ADMIN_TOKEN", "NOTIFY_SECRET_KEY", "ADMIN_PASSWORD",
                 "KIOSK_TOKEN", "DISPLAY_TOKEN", "DASHBOARD_KEY"):
        assert values.get(name), name
    # The banner: the one address, the first login, the pages, the hours.
    assert f"Antre is running: {gateway}/" in said
    assert f"user admin  password {values['ADMIN_PASSWORD']}" in said
    for page in ("/counter", "/kiosk/BWI#token=", "/display/BWI", "/dashboard/BWI#key="):
        assert f"{gateway}{page}" in said, page
    assert "open around the clock" in said

    for name in registry.names():
        answer = requests.get(f"{gateway}/health/{name}", timeout=10)
        assert answer.status_code == 200, (name, answer.text)
    for page, base in (("/kiosk/BWI", "queue"), ("/counter", "catalog"),
                       ("/dashboard/BWI", "reporting")):
        answer = requests.get(f"{gateway}{page}", timeout=10)
        assert answer.status_code == 200, page
        # Pages call the APIs through the gateway, never a service's own port.
        assert f'data-{base}-url="{gateway}"' in answer.text, page
        for port in hall.ports.values():
            assert f":{port}" not in answer.text, page
    # The board (its API on its own origin, the gateway): the page and its recent calls.
    assert requests.get(f"{gateway}/display/BWI", timeout=10).status_code == 200
    recent = requests.get(f"{gateway}/api/notify/display/BWI/recent", timeout=10)
    assert recent.status_code == 200, recent.text

    # The counter console's login, as its page posts it, and what an admin then makes.
    login = requests.post(f"{gateway}/api/catalog/auth/login", timeout=10,
                          json={"username": "admin", "password": values["ADMIN_PASSWORD"]})
    assert login.status_code == 200, login.text
    staff = {"Authorization": f"Bearer {login.json()['token']}"}
    device = requests.post(f"{gateway}/api/catalog/devices", headers=staff, timeout=10,
                           json={"kind": "kiosk", "site": "BWI", "name": "anjungan uji"})
    assert device.status_code == 201, device.text

    # A ticket at any hour: the development sample is open around the clock.
    site = requests.get(f"{gateway}/api/catalog/sites/BWI", timeout=10).json()
    assert hours.status(site, datetime.now(UTC)).open
    assert sorted(e["day"] for e in site["opening_hours"]) == sorted(hours.WEEKDAYS)
    assert {(e["open"], e["close"]) for e in site["opening_hours"]} == {("00:00", "24:00")}
    for token in (device.json()["token"], values["KIOSK_TOKEN"]):
        ticket = requests.post(f"{gateway}/api/queue/tickets", timeout=10,
                               headers={"Authorization": f"Bearer {token}"},
                               json={"service": "DISDUKCAPIL-KTP-EL"})
        assert ticket.status_code == 201, ticket.text
        assert ticket.json()["site"] == "BWI"
    # The ticket's page, and the catalog call it makes for the service's name.
    page = requests.get(f"{gateway}/tiket/{ticket.json()['ticket_id']}", timeout=10)
    assert page.status_code == 200 and f'data-catalog-url="{gateway}"' in page.text
    service = requests.get(f"{gateway}/api/catalog/services/DISDUKCAPIL-KTP-EL", timeout=10)
    assert service.status_code == 200, service.text
    assert requests.get(f"{gateway}/api/queue/kiosk/BWI", timeout=10).status_code == 200

    # The dashboard's key is checked: a made-up one is refused, the printed one works.
    daily = f"{gateway}/api/reporting/daily"
    for made_up in ("anything", "ak_0123456789ab_madeUpSecret", values["ADMIN_TOKEN"][::-1]):
        answer = requests.get(daily, params={"site": "BWI"}, timeout=10,
                              headers={"Authorization": f"Bearer {made_up}"})
        assert answer.status_code == 401, (made_up, answer.status_code, answer.text)
    answer = requests.get(daily, params={"site": "BWI"}, timeout=10,
                          headers={"Authorization": f"Bearer {values['DASHBOARD_KEY']}"})
    assert answer.status_code == 200, answer.text

    # Ctrl-C stops every process: the services' and the gateway's ports are closed.
    assert hall.stop() == 0, hall.said()
    hall.process = None
    for port in [*hall.ports.values(), hall.gateway_port]:
        assert not listening(port), port
    for pid in hall.children:
        assert not Path(f"/proc/{pid}").exists() or \
            "zombie" in Path(f"/proc/{pid}/status").read_text().lower(), pid


def test_the_secrets_are_made_once_private_and_reused(tmp_path):
    path = tmp_path / "run" / devrun.SECRETS_FILE
    first, made = devrun.load_secrets(path)
    assert sorted(made) == sorted(devrun.MAKERS)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again, made_again = devrun.load_secrets(path)
    assert again == first and made_again == []
    from cryptography.fernet import Fernet

    Fernet(first["NOTIFY_SECRET_KEY"].encode())  # a usable key


def test_the_development_catalog_is_open_at_every_hour_of_the_week():
    document = devrun.development_catalog()
    start = datetime(2026, 12, 7, tzinfo=UTC)  # a Monday
    for site in document["sites"]:
        for quarter in range(7 * 24 * 4):
            moment = start + timedelta(minutes=15 * quarter)
            assert devrun.closed_now(site, moment) is None, (site["code"], moment)


def test_a_closed_site_is_said_with_when_it_opens():
    site = {"code": "BWI", "timezone": "Asia/Jakarta", "closed_dates": [],
            "opening_hours": [{"day": "monday", "open": "07:30", "close": "15:30",
                               "breaks": [{"start": "12:00", "end": "13:00",
                                           "label": "Istirahat"}]}]}
    lunch = datetime(2026, 12, 7, 5, 30, tzinfo=UTC)  # Monday 12:30 in Jakarta
    text = devrun.closed_now(site, lunch)
    assert "CLOSED" in text and "break (Istirahat)" in text and "13:00" in text
    assert devrun.closed_now(site, datetime(2026, 12, 7, 2, 0, tzinfo=UTC)) is None
