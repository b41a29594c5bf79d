"""Domain errors that every boundary knows how to present.

Domain code raises these. HTTP entrypoints turn them into JSON responses (400, 401,
404, 409). Over RPC they arrive at the caller as the same exception class with the
same details (they are registered with nameko's ``deserialize_to_instance``), so a
calling service can tell a missing service from a broken one.
"""

from nameko.exceptions import deserialize_to_instance


@deserialize_to_instance
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


@deserialize_to_instance
class NotFound(AntreError):
    status = 404
    code = "not_found"


@deserialize_to_instance
class Conflict(AntreError):
    """The request is valid but clashes with the current state (HTTP 409)."""

    status = 409
    code = "conflict"


@deserialize_to_instance
class Unauthorized(AntreError):
    status = 401
    code = "unauthorized"


@deserialize_to_instance
class Forbidden(AntreError):
    """Authenticated, but this role may not do this (HTTP 403)."""

    status = 403
    code = "forbidden"


@deserialize_to_instance
class Unavailable(AntreError):
    """Another service this one depends on does not answer (HTTP 503)."""

    status = 503
    code = "unavailable"


@deserialize_to_instance
class InvalidInput(AntreError):
    """Input that fails validation; ``fields`` maps each field path to its messages."""

    status = 400
    code = "validation_error"

    def __init__(self, fields, message="Masukan tidak valid."):
        super().__init__(message, fields=fields)
        self.fields = fields
        self.args = (fields, message)
