"""JSON over HTTP for nameko entrypoints.

``@http(method, url)`` works like nameko's, but:

* a handler may return a dict or list (sent as JSON, status 200), a
  ``(status, body)`` tuple, or a werkzeug ``Response``;
* errors are JSON, never a traceback: a marshmallow ``ValidationError`` or
  :class:`~services.kernel.errors.InvalidInput` is 400 with every field's
  messages, :class:`NotFound` 404, :class:`Conflict` 409, unknown routes 404,
  wrong methods 405, bodies over the limit 413, anything unexpected 500 with
  a reference that is also logged;
* request bodies are limited to ``MAX_BODY_BYTES``;
* slow and idle connections are dropped (:class:`JsonWebServer`): a request line must
  arrive within ``HTTP_KEEPALIVE_SECONDS`` of the connection or of the last answer, the
  headers and then the body each within ``HTTP_SOCKET_TIMEOUT_SECONDS`` (a stalled body
  is a 408 and the connection is closed), and at most ``HTTP_MAX_CONNECTIONS`` are open
  at once (the next is answered 503 and closed).
"""

import functools
import io
import json
import logging
import socket
import uuid
from datetime import date, datetime
from functools import partial

import eventlet
from eventlet import wsgi
from marshmallow import ValidationError
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import HttpOnlyProtocol, WebServer, WsgiApp
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from services.kernel.config import setting
from services.kernel.errors import AntreError, InvalidInput
from services.kernel.events import isoformat
from services.kernel.validation import check_document, flatten, has_control_character

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
JSON_MIMETYPE = "application/json"


def _default(value):
    if isinstance(value, datetime):
        return isoformat(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def json_ready(value):
    """``value`` with every datetime as an RFC 3339 string (for RPC and HTTP answers)."""
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if isinstance(value, datetime | date):
        return _default(value)
    return value


def json_response(body, status=200, headers=None):
    text = json.dumps(body, ensure_ascii=False, default=_default)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # echoing invalid input: escape it rather than fail
        text = json.dumps(body, ensure_ascii=True, default=_default)
    return Response(
        text,
        status=status,
        headers=headers,
        mimetype=JSON_MIMETYPE,
    )


def error_response(status, code, message, **details):
    body = {"error": code, "message": message}
    body.update(details)
    return json_response(body, status=status)


def read_json(request, required=True):
    """The request body as JSON (a dict), or a 400 naming what is wrong."""
    raw = request.get_data(cache=True)
    if not raw:
        if required:
            raise InvalidInput({"_body": ["Body JSON wajib diisi."]})
        return {}
    try:
        body = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidInput({"_body": ["Body harus berupa teks UTF-8."]}) from None
    except RecursionError:
        raise InvalidInput({"_body": ["Body bersarang terlalu dalam."]}) from None
    except ValueError as exc:
        raise InvalidInput({"_body": [f"Body bukan JSON yang valid: {exc}"]}) from None
    if not isinstance(body, dict):
        raise InvalidInput({"_body": ["Body harus berupa objek JSON."]})
    problem = check_document(body)
    if problem:
        raise InvalidInput({"_body": [problem]})
    return body


def query_params(request):
    """Query parameters as a plain dict (last value wins); 400 naming every parameter
    whose value carries a control character (a newline, a tab, NUL, ...): no query
    value of Antre has one, and ``X\\n`` must not pass for ``X``."""
    params = {key: request.args.get(key) for key in request.args}
    problems = {key: ["Tidak boleh berisi karakter kontrol (baris baru, tab, ...)."]
                for key in request.args
                if any(has_control_character(value) for value in request.args.getlist(key))}
    if problems:
        raise InvalidInput(problems)
    return params


# What werkzeug's own errors say, in Bahasa Indonesia.
HTTP_MESSAGES = {
    404: "Alamat ini tidak ada.",
    405: "Metode ini tidak diizinkan untuk alamat ini.",
    408: "Body permintaan tidak tiba tepat waktu.",
    413: f"Body terlalu besar (maksimal {MAX_BODY_BYTES // 1024} KiB).",
}


def response_for_exception(exc):
    if isinstance(exc, ValidationError):
        return error_response(400, "validation_error", "Masukan tidak valid.",
                              fields=flatten(exc.messages))
    if isinstance(exc, AntreError):
        return json_response(exc.to_dict(), status=exc.status,
                             headers=getattr(exc, "headers", None))
    if isinstance(exc, HTTPException):
        status = exc.code or 500
        response = error_response(status, exc.name.lower().replace(" ", "_"),
                                  HTTP_MESSAGES.get(status, exc.description))
        allowed = getattr(exc, "valid_methods", None)  # a 405 names what the path takes
        if allowed:
            response.headers["Allow"] = ", ".join(sorted(allowed))
        return response
    reference = uuid.uuid4().hex[:12]
    log.error("Unhandled error (reference %s)", reference, exc_info=exc)
    return error_response(
        500, "internal_error", "Terjadi kesalahan internal; operator dapat menelusurinya dengan "
        "kode referensi ini.",
        reference=reference,
    )


# Pages of one service call the APIs of the others (without the gateway they are on
# other ports). Credentials travel as bearer headers, never cookies, so any origin may
# call; CORS_ALLOW_ORIGIN narrows it.
CORS_HEADERS = {
    "Access-Control-Allow-Methods": "GET, POST, PATCH, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, X-Ticket-Secret, Last-Event-ID",
    "Access-Control-Max-Age": "600",
}


class _Stalled(Exception):
    """The body did not arrive in time."""


def _buffer_body(environ, seconds):
    """Read the body before any handler runs, within ``seconds`` in all (not only per
    read: a client dripping a byte a second is as stalled as a silent one), and hand it
    on as an ordinary one. A chunked body (no Content-Length) is read up to the limit:
    werkzeug 2 would read it as empty, or without a limit. Returns None, or the status of
    the answer instead: 413 over the limit, 408 stalled."""
    chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    if chunked:
        wanted = MAX_BODY_BYTES + 1
    else:
        try:
            wanted = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return None  # eventlet refuses these before the application
        if wanted <= 0 or wanted > MAX_BODY_BYTES:
            return None  # nothing to read, or werkzeug's 413 (max_content_length)
    parts, size = [], 0
    try:
        with eventlet.Timeout(seconds, _Stalled()):
            while size < wanted:
                part = environ["wsgi.input"].read(min(wanted - size, 64 * 1024))
                if not part:
                    break
                parts.append(part)
                size += len(part)
    except (_Stalled, TimeoutError):
        return 408
    body = b"".join(parts)
    if len(body) > MAX_BODY_BYTES:
        return 413
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    return None


class JsonWsgiApp(WsgiApp):
    def __call__(self, environ, start_response):
        request = Request(environ, shallow=True)
        request.max_content_length = MAX_BODY_BYTES
        refused = None if request.method == "OPTIONS" else \
            _buffer_body(environ, self.server.socket_timeout)
        if request.method == "OPTIONS":  # a browser's preflight
            response = Response(status=204)
        elif refused == 413:
            response = error_response(413, "request_entity_too_large", HTTP_MESSAGES[413])
        elif refused == 408:
            response = error_response(408, "request_timeout", HTTP_MESSAGES[408])
            environ.get("antre.close_connection", lambda: None)()  # the rest may never come
        else:
            adapter = self.url_map.bind_to_environ(environ)
            try:
                provider, values = adapter.match()
                request.path_values = values
                response = provider.handle_request(request)
            except Exception as exc:  # turned into a JSON error response, logged if unexpected
                response = response_for_exception(exc)
        response.headers.update(CORS_HEADERS)
        response.headers["Access-Control-Allow-Origin"] = self.server.cors_origin
        return response(environ, start_response)


class GuardedProtocol(HttpOnlyProtocol):
    """eventlet's HTTP protocol with deadlines for the whole request line and the whole
    header block: eventlet's own socket timeout is per read, which a client sending a
    byte now and then never reaches. A connection past a deadline is closed."""

    def _read_request_line(self):
        # eventlet waits for it with the keepalive timeout; this bounds the whole line.
        with eventlet.Timeout(self.server.keepalive, TimeoutError("idle")):
            return super()._read_request_line()

    def parse_request(self):
        with eventlet.Timeout(self.server.socket_timeout, TimeoutError("headers")):
            return super().parse_request()

    def get_environ(self):
        environ = super().get_environ()
        environ["antre.close_connection"] = self._close_after_answer
        return environ

    def _close_after_answer(self):
        self.close_connection = 1


# What a connection over HTTP_MAX_CONNECTIONS is told before it is closed.
TOO_MANY_CONNECTIONS = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Retry-After: 5\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s")
_BUSY_BODY = json.dumps({"error": "service_unavailable",
                         "message": "Terlalu banyak koneksi; coba lagi sebentar lagi."}).encode()


class JsonWebServer(WebServer):
    """nameko's web server with the limits of the module's docstring."""

    def __init__(self):
        super().__init__()
        self.open_connections = 0

    def _seconds(self, name):
        return float(setting(name, self.container.config))

    def get_wsgi_app(self):
        self.cors_origin = setting("CORS_ALLOW_ORIGIN", self.container.config)
        self.socket_timeout = self._seconds("HTTP_SOCKET_TIMEOUT_SECONDS")
        self.max_connections = int(setting("HTTP_MAX_CONNECTIONS", self.container.config))
        return JsonWsgiApp(self)

    def get_wsgi_server(self, sock, wsgi_app, protocol=GuardedProtocol, debug=False):
        return wsgi.Server(sock, sock.getsockname(), wsgi_app, protocol=protocol, debug=debug,
                           log=logging.getLogger("nameko.web.server"),
                           socket_timeout=self.socket_timeout,
                           keepalive=self._seconds("HTTP_KEEPALIVE_SECONDS"))

    def run(self):
        while self._is_accepting:
            sock, address = self._sock.accept()
            if self.open_connections >= self.max_connections:
                self.container.spawn_managed_thread(partial(self._refuse, sock, address))
                continue
            self.open_connections += 1
            sock.settimeout(self._serv.socket_timeout)
            self.container.spawn_managed_thread(partial(self._serve, sock, address))

    def _serve(self, sock, address):
        try:
            self.process_request(sock, address)
        finally:
            self.open_connections -= 1

    def _refuse(self, sock, address):
        log.warning("%d connections open (HTTP_MAX_CONNECTIONS): refused %s",
                    self.open_connections, address[0])
        try:
            sock.settimeout(2)
            sock.sendall(TOO_MANY_CONNECTIONS % (len(_BUSY_BODY), _BUSY_BODY))
            sock.shutdown(socket.SHUT_WR)
            sock.recv(64 * 1024)  # what the client sent, so closing does not reset
        except OSError:
            pass
        finally:
            sock.close()


class JsonHttpRequestHandler(HttpRequestHandler):
    server = JsonWebServer()

    def response_from_result(self, result):
        if isinstance(result, Response):
            return result
        if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], int):
            return json_response(result[1], status=result[0])
        if isinstance(result, dict | list):
            return json_response(result)
        return super().response_from_result(result)

    def response_from_exception(self, exc):
        return response_for_exception(exc)


def http(method, url, **kwargs):
    """Register a JSON HTTP entrypoint.

    Client errors (validation, not found, conflict, ...) become their JSON response
    inside the worker, so they are answered without a traceback in the log; anything
    else propagates and is logged by nameko and answered with a 500.
    """
    register = JsonHttpRequestHandler.decorator(method, url, **kwargs)

    def decorator(handler):
        @functools.wraps(handler)
        def answer_client_errors(*args, **kw):
            try:
                return handler(*args, **kw)
            except (AntreError, ValidationError, HTTPException) as exc:
                return response_for_exception(exc)

        return register(answer_client_errors)

    return decorator
