"""Domain errors that every boundary knows how to present.

Domain code raises these; HTTP entrypoints turn them into JSON responses
(404, 409, 422) and RPC callers receive them as nameko ``RemoteError``s whose
``exc_type`` names the class.
"""


class AntreError(Exception):
    """Base class: a problem the caller can act on (never a bug)."""

    status = 400
    code = "bad_request"

    def __init__(self, message, **details):
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self):
        body = {"error": self.code, "message": self.message}
        body.update(self.details)
        return body


class NotFound(AntreError):
    status = 404
    code = "not_found"


class Conflict(AntreError):
    """The request is valid but clashes with the current state (HTTP 409)."""

    status = 409
    code = "conflict"


class InvalidInput(AntreError):
    """Input that fails validation; ``fields`` maps each field to its messages."""

    status = 400
    code = "validation_error"

    def __init__(self, fields, message="Invalid input"):
        super().__init__(message, fields=fields)
        self.fields = fields


class Unauthorized(AntreError):
    status = 401
    code = "unauthorized"
