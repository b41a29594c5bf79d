"""Domain errors that every boundary knows how to present.

Domain code raises these. HTTP entrypoints turn them into JSON responses (400, 401,
404, 409). Over RPC they arrive at the caller as the same exception class with the
same details (``services.kernel.infra.rpc.register_remote_errors`` registers every
subclass with nameko when an RPC entrypoint or client starts), so a calling service can
tell a missing service from a broken one. Plain Python: no framework is imported here.
"""


class AntreError(Exception):
    """Base class: a problem the caller can act on (never a bug)."""

    status = 400
    code = "bad_request"

    def __init__(self, message, details=None, **more):
        self.message = message
        self.details = {**(details or {}), **more}
        super().__init__(message, self.details)

    def __str__(self):
        return self.message

    def to_dict(self):
        return {"error": self.code, "message": self.message, **self.details}


class NotFound(AntreError):
    status = 404
    code = "not_found"


class Conflict(AntreError):
    """The request is valid but clashes with the current state (HTTP 409)."""

    status = 409
    code = "conflict"


class Unauthorized(AntreError):
    status = 401
    code = "unauthorized"


class Forbidden(AntreError):
    """Authenticated, but this role may not do this (HTTP 403)."""

    status = 403
    code = "forbidden"


class Unavailable(AntreError):
    """Another service this one depends on does not answer (HTTP 503)."""

    status = 503
    code = "unavailable"


class InvalidInput(AntreError):
    """Input that fails validation; ``fields`` maps each field path to its messages."""

    status = 400
    code = "validation_error"

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
