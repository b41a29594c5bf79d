"""The services of ``services.registry`` as ``nameko run`` processes on a private vhost.

A private RabbitMQ vhost, created and deleted through the management API (with the
definitions compose applies); one ``nameko run`` process per service with its config file
(``deploy/config/<service>.yaml``); the one environment they all get; health waits; a
clean stop (SIGTERM, then SIGKILL) and the clean-up after a run. Plain threads and
``requests``; nothing here monkey-patches with eventlet.
"""

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote, urlsplit

import requests

from antre_devtools import ROOT
from services import registry

REQUEST_TIMEOUT = 30.0
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672"  # the local broker, without a vhost
MANAGEMENT_URL = "http://guest:guest@127.0.0.1:15672"
MEMORY_MONGO_URL = "mongomock://localhost/"


class HarnessError(Exception):
    """A run could not be set up (a vhost, a process, a request); the message says why."""


def check(response, what):
    """The JSON answer of a 2xx ``response``, else HarnessError naming ``what``."""
    if not 200 <= response.status_code < 300:
        raise HarnessError(f"{what}: {response.status_code} {response.text[:500]}")
    return response.json()


def api(method, url, what, token=None, **kwargs):
    """One request with an optional bearer token; its JSON answer (see ``check``)."""
    headers = kwargs.pop("headers", {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    response = requests.request(method, url, headers=headers, timeout=REQUEST_TIMEOUT, **kwargs)
    return check(response, what)


# -- the broker ------------------------------------------------------------------------------


def amqp_uri_for(amqp, vhost_name):
    """The broker URL ``amqp`` (without a vhost) on the vhost ``vhost_name``."""
    return f"{amqp.rstrip('/')}/{quote(vhost_name, safe='')}"


class Vhost:
    """A private vhost, created and deleted through the management API."""

    def __init__(self, management, name):
        self.management = management
        parts = urlsplit(management)
        self.base = f"{parts.scheme}://{parts.hostname}:{parts.port or 15672}/api"
        self.auth = (parts.username or "guest", parts.password or "guest")
        self.user = self.auth[0]
        self.name = name

    def _call(self, method, path, body=None):
        response = requests.request(method, f"{self.base}{path}", json=body, auth=self.auth,
                                    timeout=REQUEST_TIMEOUT)
        if response.status_code >= 300 and not (method == "DELETE" and response.status_code == 404):
            raise HarnessError(f"management API {method} {path}: {response.status_code} "
                               f"{response.text[:300]}")

    def create(self):
        vhost = quote(self.name, safe="")
        self._call("PUT", f"/vhosts/{vhost}")
        self._call("PUT", f"/permissions/{vhost}/{quote(self.user, safe='')}",
                   {"configure": ".*", "write": ".*", "read": ".*"})

    def apply_definitions(self):
        """Declare what compose declares before the services start
        (``deploy/rabbitmq/definitions.json``)."""
        from services.brokeraccess import definitions
        from services.brokeraccess.broker_users import ManagementError

        try:
            definitions.apply(self.management, self.name, definitions.load())
        except (ManagementError, requests.RequestException) as exc:
            raise HarnessError(f"could not apply deploy/rabbitmq/definitions.json: {exc}") from None

    def delete(self):
        self._call("DELETE", f"/vhosts/{quote(self.name, safe='')}")


# -- ports and the environment ---------------------------------------------------------------


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_free(port):
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def development_ports(names=None):
    """Each service's development port from the registry when it is free, else a free one."""
    entries = [registry.entry(name) for name in (names or registry.names())]
    return {e.name: e.port if port_is_free(e.port) else free_port() for e in entries}


def free_ports(names=None):
    return {name: free_port() for name in (names or registry.names())}


# A load from one address is not abuse: benchmarks and load tests turn the web limits off.
NO_WEB_LIMITS = {name: "0" for name in ("WEB_ISSUE_PER_CLIENT", "WEB_PRIORITY_PER_CLIENT",
                                        "WEB_ISSUE_PER_SERVICE", "WEB_PRIORITY_PER_SERVICE")}


def service_env(ports, amqp_uri, mongo_url, mongo_prefix, admin_token, site="BWI",
                log_level=None, public_url=None):
    """The environment of the services' processes: this process's environment, plus the
    broker and store (``mongo_prefix`` before every database name), ``CATALOG_SEED=never``,
    ``admin_token``, a fresh ``AUTH_SECRET`` and Fernet ``NOTIFY_SECRET_KEY``, and for each
    service in ``ports`` (name -> port) where it listens and where the others reach it
    (``public_url``, when given, for every service: a gateway in front of them all).
    ``log_level``: ``LOG_LEVEL``, by default the environment's, else WARNING."""
    from cryptography.fernet import Fernet

    urls = {name: public_url or f"http://127.0.0.1:{port}" for name, port in ports.items()}
    env = {**os.environ, "AMQP_URI": amqp_uri, "MONGO_URL": mongo_url,
           "MONGO_DB_PREFIX": mongo_prefix, "CATALOG_SEED": "never", "ADMIN_TOKEN": admin_token,
           "AUTH_SECRET": secrets.token_urlsafe(32),
           "NOTIFY_SECRET_KEY": Fernet.generate_key().decode(), "DEFAULT_SITE": site,
           "LOG_LEVEL": log_level or os.environ.get("LOG_LEVEL", "WARNING")}
    if "queue" in urls:
        env["PUBLIC_BASE_URL"] = urls["queue"]
    for name, port in ports.items():
        entry = registry.entry(name)
        env[entry.address_variable] = f"127.0.0.1:{port}"
        env[entry.public_url_variable] = urls[name]
    return env


# -- the processes ---------------------------------------------------------------------------


def nameko_executable():
    beside = Path(sys.executable).parent / "nameko"
    found = str(beside) if beside.exists() else shutil.which("nameko")
    if not found:
        raise HarnessError("nameko is not installed next to this Python nor on PATH (make install)")
    return found


class ServiceProcess:
    """One ``nameko run`` process of a registry entry (``services.registry``), its log in
    ``log_dir``. ``name`` (default: the service's) names the process and its log, so that
    several processes of one service can run side by side; ``config`` replaces the
    service's config file."""

    def __init__(self, entry, port, env, log_dir, name=None, config=None):
        if isinstance(entry, str):
            entry = registry.entry(entry)
        self.entry = entry
        self.name, self.port = name or entry.name, port
        self.url = f"http://127.0.0.1:{port}"
        config = Path(config or entry.config_file)
        self.config = config if config.is_absolute() else ROOT / config
        if not self.config.exists():
            raise HarnessError(f"{self.name}: no config file {self.config}")
        self.command = [nameko_executable(), "run", "--config", str(self.config), entry.target]
        self.env = env
        self.log_path = Path(log_dir) / f"{self.name}.log"
        self.process = None

    def start(self):
        """Start the process; a restart appends to the same log."""
        with open(self.log_path, "ab") as log:
            # A session of its own: Ctrl-C reaches the caller only, which stops the services.
            self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    def wait_healthy(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise HarnessError(f"{self.name} exited with {self.process.returncode}:\n"
                                   f"{self.log_tail()}")
            try:
                if requests.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass  # not listening yet: try again until the deadline, which reports the log
            time.sleep(0.2)
        raise HarnessError(f"{self.name}: no healthy GET /health within {timeout:.0f}s:\n"
                           f"{self.log_tail()}")

    def terminate(self):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait_or_kill(self, deadline):
        """Wait for the process until ``deadline`` (monotonic), then SIGKILL it."""
        if self.process is None:
            return
        try:
            self.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"{self.name} ignored SIGTERM; killing it", file=sys.stderr)
            self.process.kill()
            self.process.wait()

    def stop(self, how, grace=10.0):
        """Stop the process the way an operator or the kernel would: ``"term"`` sends SIGTERM
        and waits up to ``grace`` seconds (then SIGKILL, as docker stop does); ``"kill"``
        sends SIGKILL at once. Returns the exit status."""
        if how == "term":
            self.terminate()
            self.wait_or_kill(time.monotonic() + grace)
        elif how == "kill":
            self.process.kill()
            self.process.wait()
        else:
            raise ValueError(f"how must be 'term' or 'kill', not {how!r}")
        return self.process.returncode

    def log_tail(self, lines=30):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def log_problems(self):
        """Log lines at ERROR or above, and tracebacks."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return []
        return [line for line in text.splitlines()
                if " ERROR " in line or " CRITICAL " in line or line.startswith("Traceback")]


def processes_for(names, ports, env, log_dir, configs=None):
    """A ServiceProcess for each service in ``names``; ``configs`` (name -> file) replaces
    config files."""
    configs = configs or {}
    return [ServiceProcess(registry.entry(name), ports[name], env, log_dir,
                           config=configs.get(name)) for name in names]


def start_all(processes, startup_timeout):
    """Start every process, then wait until each answers GET /health."""
    for process in processes:
        process.start()
    for process in processes:
        process.wait_healthy(startup_timeout)
    return processes


def stop_all(processes, stop_grace):
    """SIGTERM to every process at once, then SIGKILL to those still running after
    ``stop_grace`` seconds."""
    for process in processes:
        process.terminate()
    deadline = time.monotonic() + stop_grace
    for process in processes:
        process.wait_or_kill(deadline)


# -- the clean-up ----------------------------------------------------------------------------


class Isolation:
    """What keeps one run (a benchmark, a demo) apart from every other on this machine:
    its id, its own vhost (not created yet), broker URL, store prefix and log folder."""

    def __init__(self, kind, management, amqp):
        self.id = uuid.uuid4().hex[:8]
        self.vhost = Vhost(management, f"antre-{kind}-{self.id}")
        self.amqp_uri = amqp_uri_for(amqp, self.vhost.name)
        self.mongo_url = mongo_url_from_environment()
        self.mongo_prefix = f"{kind}{self.id}_"
        self.log_dir = tempfile.mkdtemp(prefix=f"antre-{kind}-")


def bench_run(args, services, token):
    """A benchmark's isolation, the free ports of its ``services`` and their environment
    (quiet logs, no web issuing limits: its clients all come from this machine)."""
    isolation = Isolation("bench", args.management, args.amqp)
    ports = free_ports(services)
    env = service_env(ports, isolation.amqp_uri, isolation.mongo_url, isolation.mongo_prefix,
                      token, log_level="WARNING")
    return isolation, ports, {**env, **NO_WEB_LIMITS}


def mongo_url_from_environment():
    """``MONGO_URL``, or the in-memory store (each process then has its own)."""
    return os.environ.get("MONGO_URL") or MEMORY_MONGO_URL


def drop_mongo_databases(mongo_url, prefix):
    if mongo_url.startswith("mongomock://"):
        return
    from pymongo import MongoClient  # only with a real MongoDB

    with MongoClient(mongo_url, serverSelectionTimeoutMS=5000) as client:
        for name in client.list_database_names():
            if name.startswith(prefix):
                client.drop_database(name)


def interrupt(signum, frame):
    """A signal handler that unwinds like Ctrl-C (SIGTERM from make or CI), so that the
    caller's ``finally`` still cleans up."""
    raise KeyboardInterrupt


def clean_up(processes, stop_grace, vhost, mongo_url, mongo_prefix, log_dir, keep_logs, say):
    """Stop the services (SIGTERM, then SIGKILL after ``stop_grace``), delete the vhost
    (None: it was never made) and the databases, and keep or remove the logs. Problems
    are reported through ``say``: cleaning up must not hide the run's result."""
    stop_all(processes, stop_grace)
    if vhost is not None:
        try:
            vhost.delete()
        except (HarnessError, requests.RequestException) as exc:
            say(f"could not delete vhost {vhost.name}: {exc}")
    try:
        drop_mongo_databases(mongo_url, mongo_prefix)
    except Exception as exc:  # reported, not raised: the run's own result comes first
        say(f"could not drop databases {mongo_prefix}*: {exc}")
    if keep_logs:
        say(f"services' logs kept in {log_dir}")
    else:
        shutil.rmtree(log_dir, ignore_errors=True)
