"""Domain errors that every boundary knows how to present.

Domain code raises these. HTTP entrypoints turn them into JSON responses (400, 401,
404, 409, 429 with Retry-After). Over RPC they arrive at the caller as the same exception class with the
same details (``services.kernel.infra.rpc.register_remote_errors`` registers every
subclass with nameko when an RPC entrypoint or client starts), so a calling service can
tell a missing service from a broken one. Plain Python: no framework is imported here.
"""

import math


class AntreError(Exception):
    """Base class: a problem the caller can act on (never a bug)."""

    status = 400
    code = "bad_request"

    def __init_subclass__(cls, status=None, code=None, **more):
        """``class Gone(AntreError, status=410, code="gone")`` sets both in one line."""
        super().__init_subclass__(**more)
        if status is not None:
            cls.status = status
        if code is not None:
            cls.code = code

    def __init__(self, message, details=None, **more):
        self.message = message
        self.details = {**(details or {}), **more}
        super().__init__(message, self.details)

    def __str__(self):
        return self.message

    def to_dict(self):
        return {"error": self.code, "message": self.message, **self.details}


class NotFound(AntreError, status=404, code="not_found"):
    """Nothing of that kind under that id or code (HTTP 404)."""


class Conflict(AntreError, status=409, code="conflict"):
    """The request is valid but clashes with the current state (HTTP 409)."""


class Unauthorized(AntreError, status=401, code="unauthorized"):
    """No valid credential came with the request (HTTP 401)."""


class Forbidden(AntreError, status=403, code="forbidden"):
    """Authenticated, but this role may not do this (HTTP 403)."""


class Unavailable(AntreError, status=503, code="unavailable"):
    """Another service this one depends on does not answer (HTTP 503)."""


class TooManyRequests(AntreError, status=429, code="too_many_requests"):
    """Too many requests (or failed logins) of one kind (HTTP 429); ``retry_after``
    whole seconds until the next may pass, sent as ``Retry-After``; ``limit`` names the
    limit."""

    def __init__(self, message, details=None, **more):
        super().__init__(message, details, **more)
        self.details["retry_after"] = max(1, math.ceil(float(self.details.get("retry_after", 1))))

    @property
    def headers(self):
        return {"Retry-After": str(self.details["retry_after"])}


class InvalidInput(AntreError, status=400, code="validation_error"):
    """Input that fails validation; ``fields`` maps each field path to its messages."""

    def __init__(self, fields, message="Masukan tidak valid."):
        super().__init__(message, fields=fields)
        self.fields = fields
        self.args = (fields, message)


def every_error_class(base=AntreError):
    """``base`` and all its subclasses defined so far (in every imported module)."""
    found, todo = [], [base]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found
