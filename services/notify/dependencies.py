"""What the notify service is wired to: its store, its secrets and message provider,
the webhook HTTP client, its settings, the catalog, and the display boards' event
stream. Everything framework-bound that ``service.py`` injects lives here."""

import http.client
import json
import socket
import urllib.error
import urllib.request
from pathlib import Path

import eventlet
from nameko.extensions import DependencyProvider

from services.kernel.auth import warn_if_open
from services.kernel.config import setting
from services.kernel.errors import NotFound
from services.kernel.infra.http import json_ready
from services.kernel.infra.mongo import MongoDatabase
from services.kernel.infra.pages import asset, page
from services.notify.commands import Settings, resolve_host
from services.notify.crypto import Vault
from services.notify.domain import WebhookTargets
from services.notify.providers import provider_from
from services.notify.repository import NotifyRepository

STATIC = Path(__file__).parent / "static"
ASSETS = ("display.js", "display.css")  # the page itself is served at /display/<site>
ASSET_CACHE = "max-age=300"  # a board's assets are cached five minutes (as documented)
STREAM_POLL_SECONDS = 0.25
KEEP_ALIVE_SECONDS = 15


class NotifyStore(MongoDatabase):
    def __init__(self):
        super().__init__(NotifyRepository)

    def start(self):
        warn_if_open(self.container.config, self.container.service_name)


class Secrets(DependencyProvider):
    """The vault (encryption at rest) and the message provider of this container."""

    def setup(self):
        config = self.container.config
        self.vault = Vault(setting("NOTIFY_SECRET_KEY", config))
        self.provider = provider_from(lambda name: setting(name, config))

    def get_dependency(self, worker_ctx):
        return self


class TargetRefused(OSError):
    """A delivery's host resolves to an address webhooks may not call."""


def _checked_connect(targets, resolve):
    """``socket.create_connection`` for one delivery: resolve the host once, check every
    address, and connect only to those checked (so DNS cannot change in between)."""
    def connect(address, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None):
        host, port = address
        try:
            addresses = resolve(host)
        except (OSError, UnicodeError):
            addresses = []
        refusal = targets.refusal(host, addresses)
        if refusal:
            raise TargetRefused(refusal)
        problem = None
        for ip in addresses:
            try:
                return socket.create_connection((ip, port), timeout, source_address)
            except OSError as exc:
                problem = exc
        raise problem

    return connect


def _pinned(connection_class, targets, resolve):
    def make(host, **kwargs):
        connection = connection_class(host, **kwargs)
        connection._create_connection = _checked_connect(targets, resolve)
        return connection

    return make


class _Checked:
    """A urllib handler whose connections go only to checked addresses."""

    def __init__(self, targets, resolve):
        super().__init__()
        self.targets, self.resolve = targets, resolve

    def _open_checked(self, connection_class, req, **kwargs):
        return self.do_open(_pinned(connection_class, self.targets, self.resolve), req, **kwargs)


class _CheckedHTTP(_Checked, urllib.request.HTTPHandler):
    def http_open(self, req):
        return self._open_checked(http.client.HTTPConnection, req)


class _CheckedHTTPS(_Checked, urllib.request.HTTPSHandler):
    def https_open(self, req):
        return self._open_checked(http.client.HTTPSConnection, req, context=self._context)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a redirect is an answer (3xx, a failure), never followed


def http_post(url, body, headers, timeout=10.0, targets=None, resolve=resolve_host):
    """POST and answer the status code (an HTTP error status is an answer, not a raise).
    Redirects are not followed: register the final URL. The address connected to must
    pass ``targets`` (:class:`WebhookTargets`; by default global addresses only), else
    :class:`TargetRefused` is raised before anything is sent; no proxy is used."""
    targets = WebhookTargets() if targets is None else targets
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), _NoRedirects,
        _CheckedHTTP(targets, resolve), _CheckedHTTPS(targets, resolve))
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TargetRefused):
            raise exc.reason from None
        raise


def webhook_post(config):
    """:func:`http_post` with the targets the configuration allows."""
    targets = WebhookTargets.from_setting(setting("WEBHOOK_ALLOWED_PRIVATE", config))

    def post(url, body, headers):
        return http_post(url, body, headers, targets=targets)

    return post


def settings_from(config):
    """Notify's :class:`Settings` from the container's configuration."""
    def number(name, cast=int):  # every one has its default in services/kernel/config.py
        return cast(setting(name, config))

    return Settings(
        near_ahead=number("NEAR_TICKETS_AHEAD"),
        public_base_url=setting("PUBLIC_BASE_URL", config),
        message_attempts=number("MESSAGE_MAX_ATTEMPTS"),
        message_retry_seconds=number("MESSAGE_RETRY_SECONDS", float),
        webhook_attempts=number("WEBHOOK_MAX_ATTEMPTS"),
        webhook_retry_seconds=number("WEBHOOK_RETRY_SECONDS", float),
        webhook_allowed_private=setting("WEBHOOK_ALLOWED_PRIVATE", config),
    )



def display_page(config, site, lang):
    """The display board's page, through the kernel's page serving."""
    return page(STATIC, "display.html", config, SITE=site, LANG=lang)


def display_asset(name):
    """A display board's script or style sheet, through the kernel's page serving."""
    if name not in ASSETS:
        raise NotFound(f"Berkas {name} tidak ada.", name=name)
    response = asset(STATIC, name)
    response.headers["Cache-Control"] = ASSET_CACHE
    return response


def sse(announcement):
    return (f"id: {announcement['seq']}\nevent: announcement\n"
            f"data: {json.dumps(json_ready(announcement), ensure_ascii=False)}\n\n")


def announcement_stream(queries, site, after):
    """Server-Sent Events: every announcement after ``after``, then each new one."""
    last = after
    quiet = 0.0
    yield "retry: 3000\n\n"
    while True:
        items = queries.announcements_after(site, last)
        for item in items:
            last = item["seq"]
            yield sse(item)
        if items:
            quiet = 0.0
            continue
        eventlet.sleep(STREAM_POLL_SECONDS)
        quiet += STREAM_POLL_SECONDS
        if quiet >= KEEP_ALIVE_SECONDS:
            quiet = 0.0
            yield ": keep-alive\n\n"
