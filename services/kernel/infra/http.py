"""JSON over HTTP for nameko entrypoints.

``@http(method, url)`` works like nameko's, but:

* a handler may return a dict or list (sent as JSON, status 200), a
  ``(status, body)`` tuple, or a werkzeug ``Response``;
* errors are JSON, never a traceback: a marshmallow ``ValidationError`` or
  :class:`~services.kernel.errors.InvalidInput` is 400 with every field's
  messages, :class:`NotFound` 404, :class:`Conflict` 409, unknown routes 404,
  wrong methods 405, bodies over the limit 413, anything unexpected 500 with
  a reference that is also logged;
* request bodies are limited to ``MAX_BODY_BYTES``.
"""

import functools
import io
import json
import logging
import uuid
from datetime import date, datetime

from marshmallow import ValidationError
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import WebServer, WsgiApp
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


def _buffer_chunked_body(environ):
    """Read a chunked body (no Content-Length) up to the limit and hand it on as an
    ordinary one; False when it is over the limit. werkzeug 2 would otherwise read it as
    empty, or without a limit."""
    if "chunked" not in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return True
    body = environ["wsgi.input"].read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        return False
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    del environ["HTTP_TRANSFER_ENCODING"]
    return True


class JsonWsgiApp(WsgiApp):
    def __call__(self, environ, start_response):
        request = Request(environ, shallow=True)
        request.max_content_length = MAX_BODY_BYTES
        if request.method == "OPTIONS":  # a browser's preflight
            response = Response(status=204)
        elif not _buffer_chunked_body(environ):
            response = error_response(413, "request_entity_too_large", HTTP_MESSAGES[413])
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


class JsonWebServer(WebServer):
    def get_wsgi_app(self):
        self.cors_origin = setting("CORS_ALLOW_ORIGIN", self.container.config)
        return JsonWsgiApp(self)


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
