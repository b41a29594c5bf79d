"""``make run``: the whole hall on one machine, behind one address, ready to log in.

What it does (``docs/development.md`` is the newcomer's version):

1. reads or makes the development secrets (``AUTH_SECRET``, ``ADMIN_TOKEN``,
   ``NOTIFY_SECRET_KEY``, the first admin's password) in ``<run dir>/dev-secrets.env``
   (mode 0600, git-ignored), reused on later starts;
2. starts every service of :mod:`services.registry` with ``nameko run`` and its
   ``deploy/config/<name>.yaml``, each one's output on the console (prefixed) and in
   ``<run dir>/logs/<name>.log``;
3. starts the nginx gateway exactly as the system test renders it
   (``deploy/nginx/local.sh``), so pages and APIs share one address
   (``http://localhost:8080``); without nginx it says so loudly and pages call the
   services' own ports instead;
4. in development the sample site is open around the clock (``ANTRE_DEV_OPEN_ALL_DAY``,
   on by default): an empty catalog gets the sample catalog with 00:00-24:00 every day;
   when the catalog's site is closed now, it says so, and how to change it;
5. creates the first admin account, a kiosk and a board token and a dashboard key, and
   prints where every page is;
6. runs until Ctrl-C (or SIGTERM, or a service exits), then stops everything.

Settings (environment): ``ANTRE_RUN_DIR`` (``.run``), ``ANTRE_GATEWAY_LISTEN`` (``8080``:
what nginx listens on), ``ANTRE_PUBLIC_HOST`` (``localhost``: the host name in printed and
page URLs), ``ANTRE_DEV_OPEN_ALL_DAY`` (``true``), ``ANTRE_NGINX`` (the nginx binary, or
``none`` to run without the gateway), and every service setting
(``AMQP_URI``, ``MONGO_URL``, ``<NAME>_HTTP_ADDRESS`` ...) as usual.
"""

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from antre_devtools.harness import HarnessError, nameko_executable
from services import registry
from services.kernel import hours, tokens
from services.kernel.config import flag, setting

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "services" / "catalog" / "sample" / "banyuwangi.yaml"
SECRETS_FILE = "dev-secrets.env"
ADMIN_USERNAME = "admin"
STARTUP_SECONDS = 60.0
STOP_SECONDS = 10.0
NGINX_CANDIDATES = ("/usr/sbin/nginx", "/sbin/nginx", "/usr/local/sbin/nginx")


class StartError(HarnessError):
    """Something a newcomer must fix before the hall can start (said plainly)."""


def say(text=""):
    print(text, file=sys.stderr, flush=True)


def loud(*lines):
    width = max(len(line) for line in lines) + 4
    say("*" * width)
    for line in lines:
        say(f"* {line.ljust(width - 4)} *")
    say("*" * width)


# -- secrets --------------------------------------------------------------------------------


def read_env_file(path):
    values = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                name, value = line.split("=", 1)
                values[name.strip()] = value.strip()
    return values


def write_env_file(path, values):
    text = ("# Antre development secrets, made by `make run` and reused on every start.\n"
            "# Delete this file to make new ones. Never use these values in production.\n"
            + "".join(f"{name}={value}\n" for name, value in values.items()))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


def fernet_key():
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


MAKERS = {
    "AUTH_SECRET": lambda: secrets.token_urlsafe(32),
    "ADMIN_TOKEN": lambda: secrets.token_urlsafe(24),
    "NOTIFY_SECRET_KEY": fernet_key,
    "ADMIN_PASSWORD": lambda: secrets.token_urlsafe(12),
}


def load_secrets(path):
    """The secrets file's values, with whatever is missing made and written back."""
    values = read_env_file(path)
    made = [name for name in MAKERS if not values.get(name)]
    for name in made:
        values[name] = MAKERS[name]()
    if made or not path.exists():
        write_env_file(path, values)
    else:
        os.chmod(path, 0o600)
    return values, made


# -- the development catalog ----------------------------------------------------------------


def open_all_day(document):
    """The sample catalog with every site open 00:00-24:00 every day, no closed dates."""
    for site in document["sites"]:
        site["opening_hours"] = [{"day": day, "open": "00:00", "close": "24:00", "breaks": []}
                                 for day in hours.WEEKDAYS]
        site["closed_dates"] = []
    return document


def development_catalog():
    import yaml

    return open_all_day(yaml.safe_load(SAMPLE.read_text(encoding="utf-8")))


def closed_now(site, now=None):
    """A sentence when ``site`` is closed now, else None."""
    state = hours.status(site, now or datetime.now(UTC))
    if state.open:
        return None
    when = state.next_open.strftime("%A %Y-%m-%d %H:%M") if state.next_open else "never"
    why = state.reason + (f" ({state.label})" if state.label else "")
    return f"site {site['code']} is CLOSED now ({why}); it opens next {when} {site['timezone']}"


# -- processes -------------------------------------------------------------------------------


def find_nginx(environ):
    """``ANTRE_NGINX`` (a path, or ``none`` for no gateway), else nginx on PATH or in sbin."""
    chosen = environ.get("ANTRE_NGINX")
    if chosen:
        return None if chosen.lower() in ("none", "off", "no") else chosen
    found = shutil.which("nginx")
    if found:
        return found
    return next((p for p in NGINX_CANDIDATES if os.access(p, os.X_OK)), None)


def port_of(address):
    return int(address.rsplit(":", 1)[1])


def port_taken(port):
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return True
    return False


def broker_reachable(amqp_uri):
    parts = urlsplit(amqp_uri)
    try:
        with socket.create_connection((parts.hostname or "localhost", parts.port or 5672), 3):
            return True
    except OSError:
        return False


class Child:
    """One process whose output goes to the console (prefixed) and to its log file."""

    def __init__(self, name, argv, env, log_path):
        self.name, self.argv, self.env, self.log_path = name, argv, env, log_path
        self.process = None
        self.pump = None

    def start(self):
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen(self.argv, env=self.env, cwd=ROOT,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        self.pump = threading.Thread(target=self._pump, name=f"log-{self.name}", daemon=True)
        self.pump.start()

    def _pump(self):
        prefix = f"[{self.name}] ".encode()
        for line in iter(self.process.stdout.readline, b""):
            self.log.write(line)
            self.log.flush()
            sys.stdout.buffer.write(prefix + line)
            sys.stdout.flush()

    def running(self):
        return self.process is not None and self.process.poll() is None

    def signal(self, signum):
        if self.running():
            try:
                self.process.send_signal(signum)
            except ProcessLookupError:
                pass

    def wait(self, timeout):
        if self.process is None:
            return None
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()
        finally:
            if self.pump is not None:
                self.pump.join(2)
            self.log.close()


def http_ok(url, timeout=2.0):
    import requests

    try:
        return requests.get(url, timeout=timeout).status_code == 200
    except requests.RequestException:
        return False


def wait_until(what, check, children, timeout=STARTUP_SECONDS):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dead = [c for c in children if not c.running()]
        if dead:
            raise StartError(f"{dead[0].name} exited while waiting until {what} "
                             f"(its log: {dead[0].log_path})")
        if check():
            return
        time.sleep(0.2)
    raise StartError(f"{what}: not within {timeout:.0f}s")


# -- the hall -----------------------------------------------------------------------------------


class Hall:
    def __init__(self, names, run_dir, listen, public_host, environ=None):
        self.environ = dict(os.environ if environ is None else environ)
        self.entries = [registry.entry(name) for name in names]
        self.run_dir = Path(run_dir).resolve()
        self.listen, self.public_host = listen, public_host
        self.children = {}
        self.nginx = None
        self.gateway = None  # the one address, when nginx runs
        self.notes = []  # what the banner says at the end

    # - set-up -

    def prepare(self):
        (self.run_dir / "logs").mkdir(parents=True, exist_ok=True)
        gitignore = self.run_dir / ".gitignore"
        if not gitignore.exists():
            gitignore.write_text("*\n", encoding="utf-8")
        self.secrets_path = self.run_dir / SECRETS_FILE
        self.secrets, made = load_secrets(self.secrets_path)
        if made:
            self.notes.append(f"made new development secrets: {', '.join(made)}")
        env = self.environ
        amqp_uri = setting("AMQP_URI", {"AMQP_URI": env.get("AMQP_URI")})
        if not broker_reachable(amqp_uri):
            raise StartError(f"RabbitMQ does not answer at {amqp_uri}: start it (e.g. "
                             "`sudo systemctl start rabbitmq-server`, or `docker run -d -p "
                             "5672:5672 -p 15672:15672 rabbitmq:3-management`) or set AMQP_URI")
        self.addresses = {e.name: env.get(e.address_variable) or f"0.0.0.0:{e.port}"
                          for e in self.entries}
        taken = [f"{name} ({address})" for name, address in self.addresses.items()
                 if port_taken(port_of(address))]
        if taken:
            raise StartError(f"port in use: {', '.join(taken)}; is another `make run` running? "
                             "Stop it, or set <SERVICE>_HTTP_ADDRESS")
        self.nginx_binary = find_nginx(env)
        if self.nginx_binary is None:
            loud("nginx is NOT installed: no single address (gateway) for the hall.",
                 "Install it:  sudo apt-get install nginx-light   (Debian/Ubuntu)",
                 "             brew install nginx                 (macOS)",
                 "Until then each page is served by its own service's port.")
        elif port_taken(port_of(f":{self.listen}")):
            raise StartError(f"the gateway's port {self.listen} is in use; set "
                             "ANTRE_GATEWAY_LISTEN (e.g. ANTRE_GATEWAY_LISTEN=8090 make run)")
        self.open_all_day = flag(env.get("ANTRE_DEV_OPEN_ALL_DAY", "true"))
        self.seed = env.get("CATALOG_SEED") or "if-empty"

    def service_env(self):
        env = dict(self.environ)
        for name in ("AUTH_SECRET", "ADMIN_TOKEN", "NOTIFY_SECRET_KEY"):
            env[name] = env.get(name) or self.secrets[name]
        self.admin_token, self.auth_secret = env["ADMIN_TOKEN"], env["AUTH_SECRET"]
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
        env.setdefault("MONGO_URL", "mongomock://localhost/")
        if self.open_all_day:
            env["CATALOG_SEED"] = "never"  # the development catalog is imported below
        if self.nginx_binary:
            self.gateway = f"http://{self.public_host}:{port_of(':' + self.listen)}"
            urls = dict.fromkeys(registry.names(), self.gateway)
        else:
            urls = {e.name: f"http://{self.public_host}:{e.port}" for e in registry.SERVICES}
            urls.update({name: f"http://{self.public_host}:{port_of(address)}"
                         for name, address in self.addresses.items()})
        for entry in registry.SERVICES:
            env[entry.public_url_variable] = env.get(entry.public_url_variable) or urls[entry.name]
        for name, address in self.addresses.items():
            env[registry.entry(name).address_variable] = address
        env.setdefault("PUBLIC_BASE_URL", self.gateway or urls["queue"])
        self.urls = urls
        return env

    def start(self):
        self.prepare()
        env = self.service_env()
        if env["MONGO_URL"].startswith("mongomock://"):
            loud("MONGO_URL is not set to a MongoDB server: every service keeps its",
                 "data IN MEMORY and loses it when it stops. For data that stays:",
                 "  MONGO_URL=mongodb://localhost:27017/ make run")
        nameko = nameko_executable()
        for entry in self.entries:
            child = Child(entry.name, [nameko, "run", "--config", entry.config_file,
                                       entry.target], env,
                          self.run_dir / "logs" / f"{entry.name}.log")
            child.start()
            self.children[entry.name] = child
        say(f"Starting {', '.join(self.children)} (logs in {self.run_dir / 'logs'}) ...")
        for entry in self.entries:
            port = port_of(self.addresses[entry.name])
            wait_until(f"{entry.name} answers /health",
                       lambda port=port: http_ok(f"http://127.0.0.1:{port}/health"),
                       self.children.values())
        if self.nginx_binary:
            self.start_gateway()
        self.set_up()

    def start_gateway(self):
        conf = self.gateway_dir()
        upstreams = [f"127.0.0.1:{port_of(self.addresses[name])}" if name in self.addresses
                     else f"127.0.0.1:{registry.entry(name).port}" for name in registry.names()]
        subprocess.run(["bash", "deploy/nginx/local.sh", str(conf), self.listen, *upstreams],
                       cwd=ROOT, check=True)
        self.nginx = Child("gateway", [self.nginx_binary, "-e", "stderr", "-p", str(conf),
                                       "-c", str(conf / "nginx.conf"), "-g", "daemon off;"],
                           self.environ, self.run_dir / "logs" / "gateway.log")
        self.nginx.start()
        local = f"http://127.0.0.1:{port_of(':' + self.listen)}"
        for name in self.children:
            wait_until(f"the gateway serves /health/{name}",
                       lambda name=name: http_ok(f"{local}/health/{name}"),
                       [*self.children.values(), self.nginx])

    def gateway_dir(self):
        """nginx's runtime directory. Run as root, nginx's workers are an unprivileged user
        that must reach it: then it must lie under directories everyone may enter."""
        path = self.run_dir / "gateway"
        if os.geteuid() == 0 and any(not (p.stat().st_mode & 0o001) for p in path.parents):
            import tempfile

            path = Path(tempfile.mkdtemp(prefix="antre-gateway-"))
            self.temporary_gateway_dir = path
        return path

    # - the hall's first data -

    def api(self, method, path, token=None, expect=(200, 201), **kwargs):
        import requests

        base = self.gateway_local() if self.gateway else None
        service = path.split("/")[2]
        url = (base or f"http://127.0.0.1:{port_of(self.addresses[service])}") + path
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        response = requests.request(method, url, headers=headers, timeout=30, **kwargs)
        if response.status_code not in expect:
            raise StartError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response

    def gateway_local(self):
        return f"http://127.0.0.1:{port_of(':' + self.listen)}"

    def set_up(self):
        if "catalog" not in self.children:
            return
        sites = self.api("GET", "/api/catalog/sites", self.admin_token).json()["items"]
        if not sites and self.open_all_day:
            self.api("POST", "/api/catalog/import", self.admin_token,
                     json=development_catalog())
            self.notes.append("imported the sample catalog, open 00:00-24:00 every day "
                              "(ANTRE_DEV_OPEN_ALL_DAY)")
            self.imported = True
            sites = self.api("GET", "/api/catalog/sites", self.admin_token).json()["items"]
        self.sites = sites
        self.closed = [text for site in sites if (text := closed_now(site))]
        self.site = self.environ.get("DEFAULT_SITE") or (sites[0]["code"] if sites else "BWI")
        self.ensure_admin()
        self.ensure_tokens()

    def ensure_admin(self):
        password = self.secrets["ADMIN_PASSWORD"]
        self.api("POST", "/api/catalog/accounts", self.admin_token, expect=(201, 409),
                 json={"username": ADMIN_USERNAME, "password": password, "role": "admin",
                       "name": "Admin pengembangan"})
        login = self.api("POST", "/api/catalog/auth/login", expect=(200, 401),
                         json={"username": ADMIN_USERNAME, "password": password})
        if login.status_code != 200:
            self.notes.append(f"the account {ADMIN_USERNAME!r} already exists in this database "
                              f"with another password than {self.secrets_path.name}'s")

    def ensure_tokens(self):
        """A kiosk and a board token for the site, and a dashboard key, kept in the secrets
        file while they still work."""
        changed = False
        for kind in ("kiosk", "display"):
            name = f"{kind.upper()}_TOKEN"
            if not self.token_valid(self.secrets.get(name), kind):
                self.secrets[name] = self.api(
                    "POST", "/api/catalog/devices", self.admin_token,
                    json={"kind": kind, "site": self.site,
                          "name": f"{kind} pengembangan"}).json()["token"]
                changed = True
        if "reporting" in self.children and not self.key_valid(self.secrets.get("DASHBOARD_KEY")):
            self.secrets["DASHBOARD_KEY"] = self.api(
                "POST", "/api/catalog/api-keys", self.admin_token,
                json={"name": "dashboard pengembangan"}).json()["key"]
            changed = True
        if changed:
            write_env_file(self.secrets_path, self.secrets)

    def token_valid(self, token, kind):
        if not token:
            return False
        try:
            claims = tokens.verify(token, self.auth_secret)
        except Exception:
            return False
        return claims.get("role") == kind and claims.get("site") == self.site

    def key_valid(self, key):
        if not key:
            return False
        return self.api("GET", f"/api/reporting/daily?site={self.site}", key,
                        expect=(200, 401, 403, 404)).status_code in (200, 404)

    # - the banner -

    def banner(self):
        front = self.gateway or self.urls["queue"]
        url = {name: self.gateway or self.urls[name] for name in registry.names()}
        site = getattr(self, "site", "BWI")
        lines = [""]
        for note in self.notes:
            lines.append(f"  note: {note}")
        lines += ["", "=" * 72,
                  f"  Antre is running: {front}/" if self.gateway else
                  "  Antre is running WITHOUT a gateway (install nginx for one address)",
                  "=" * 72]
        if "catalog" in self.children:
            lines += [f"  Counter console  {url['queue']}/counter",
                      f"    first login    user {ADMIN_USERNAME}  password "
                      f"{self.secrets['ADMIN_PASSWORD']}",
                      f"  Kiosk            {url['queue']}/kiosk/{site}#token="
                      f"{self.secrets.get('KIOSK_TOKEN', '')}",
                      f"  Display board    {url['notify']}/display/{site}",
                      f"  Dashboard        {url['reporting']}/dashboard/{site}#key="
                      f"{self.secrets.get('DASHBOARD_KEY', '')}",
                      f"  Admin API token  ADMIN_TOKEN in {self.secrets_path}"]
        for entry in self.entries:
            lines.append(f"  Health           {front}/health/{entry.name}" if self.gateway else
                         f"  {entry.name:<16} {self.urls[entry.name]}/health")
        lines.append(f"  Secrets          {self.secrets_path} (0600; delete it for new ones)")
        lines.append(f"  Logs             {self.run_dir / 'logs'}/<service>.log")
        if getattr(self, "imported", False):
            lines.append("  Hours            open around the clock in development "
                         "(ANTRE_DEV_OPEN_ALL_DAY=false for the sample's office hours)")
        elif "catalog" in self.children:
            lines.append("  Hours            the catalog's own opening hours "
                         + ("(open now)" if not getattr(self, "closed", []) else "(CLOSED now)"))
        lines.append("  Stop             Ctrl-C")
        say("\n".join(lines))
        for text in getattr(self, "closed", []):
            loud("NO TICKET CAN BE ISSUED NOW:", f"  {text}.",
                 "For a development catalog open around the clock, start with an empty",
                 "catalog (in-memory MONGO_URL, or drop the antre_catalog database) and",
                 "ANTRE_DEV_OPEN_ALL_DAY=true (the default), or change the site's",
                 "opening_hours with PATCH /api/catalog/sites/<code>.")
        say(f"Antre ready at {front}")

    # - running and stopping -

    def wait(self, stop_event):
        everyone = [*self.children.values(), *([self.nginx] if self.nginx else [])]
        while not stop_event.is_set():
            dead = [c for c in everyone if not c.running()]
            if dead:
                say(f"{dead[0].name} exited (status {dead[0].process.returncode}); "
                    "stopping everything. Its log: " + str(dead[0].log_path))
                return 1
            stop_event.wait(0.5)
        return 0

    def stop(self):
        if self.nginx is not None:
            self.nginx.signal(signal.SIGQUIT)  # nginx's graceful stop
            self.nginx.wait(STOP_SECONDS)
        # Services that call others first, the catalog last (as compose stops them).
        dependents = [c for name, c in self.children.items() if name != "catalog"]
        for group in (dependents, [c for n, c in self.children.items() if n == "catalog"]):
            for child in group:
                child.signal(signal.SIGTERM)
            for child in group:
                child.wait(STOP_SECONDS)
        temporary = getattr(self, "temporary_gateway_dir", None)
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m antre_devtools.devrun",
                                     description="The whole hall on this machine (make run).")
    parser.add_argument("services", nargs="*", help=f"default: {' '.join(registry.names())}")
    parser.add_argument("--run-dir", default=os.environ.get("ANTRE_RUN_DIR") or str(ROOT / ".run"))
    parser.add_argument("--listen", default=os.environ.get("ANTRE_GATEWAY_LISTEN") or "8080",
                        help="what the gateway listens on: 8080 or 127.0.0.1:8080")
    parser.add_argument("--public-host", default=os.environ.get("ANTRE_PUBLIC_HOST") or "localhost")
    args = parser.parse_args(argv)
    try:
        names = [registry.entry(name).name for name in args.services] or registry.names()
    except KeyError as exc:
        parser.error(exc.args[0])

    stop_event = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop_event.set())
    hall = Hall(names, args.run_dir, args.listen, args.public_host)
    status = 0
    try:
        hall.start()
        hall.banner()
        status = hall.wait(stop_event)
    except HarnessError as exc:  # StartError, or the harness finding no nameko
        loud(f"make run cannot start: {exc}")
        status = 1
    finally:
        say("Stopping ...")
        hall.stop()
        say("Stopped.")
    return status


if __name__ == "__main__":
    sys.exit(main())
