"""``@rpc`` for Antre services.

Like nameko's, but a marshmallow ``ValidationError`` leaves the service as
:class:`~services.kernel.errors.InvalidInput` (which callers receive as that class,
with every field's messages), and client errors are logged by nameko as expected
(a warning), not as failures of the service.
"""

import functools
import inspect

from marshmallow import ValidationError
from nameko.exceptions import IncorrectSignature
from nameko.rpc import Rpc

from services.kernel.errors import AntreError, InvalidInput
from services.kernel.validation import flatten


def rpc(fn=None, **kwargs):
    kwargs.setdefault("expected_exceptions", (AntreError,))

    def decorator(method):
        signature = inspect.signature(method)

        @functools.wraps(method)
        def invalid_input_as_antre_error(*args, **kw):
            try:
                signature.bind(*args, **kw)  # nameko's own check cannot see through the wrapper
            except TypeError as exc:
                raise IncorrectSignature(str(exc)) from None
            try:
                return method(*args, **kw)
            except ValidationError as exc:
                raise InvalidInput(flatten(exc.messages)) from None

        return Rpc.decorator(**kwargs)(invalid_input_as_antre_error)

    return decorator(fn) if fn is not None else decorator
