"""RPC for Antre services: ``@rpc`` to serve, :class:`RpcClient` to call.

``@rpc`` is nameko's, but a marshmallow ``ValidationError`` leaves the service as
:class:`~services.kernel.errors.InvalidInput` (which callers receive as that class,
with every field's messages), and client errors are logged by nameko as expected
(a warning), not as failures of the service.

:class:`RpcClient` is nameko's ``RpcProxy`` with a deadline (``RPC_TIMEOUT_SECONDS``).
"""

import functools
import inspect

import eventlet
from marshmallow import ValidationError
from nameko.exceptions import IncorrectSignature
from nameko.rpc import Rpc, RpcProxy

from services.kernel.config import setting
from services.kernel.errors import AntreError, InvalidInput, Unavailable
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


class RpcClient(RpcProxy):
    """nameko's ``RpcProxy`` whose calls give up after ``RPC_TIMEOUT_SECONDS`` (default 10)
    with :class:`~services.kernel.errors.Unavailable` (HTTP 503).

    nameko 2 waits for a reply for ever. A reply never comes when the other service is
    gone, and also when it was lost: a request published before the caller's own reply
    queue exists (a worker that calls out at the very start of a container) gets its
    answer routed nowhere. Found by the system test: a timer that fired at start-up after
    a restart waited for ever, blocked every later tick and then the service's stop.
    """

    def setup(self):
        super().setup()
        self.timeout = float(setting("RPC_TIMEOUT_SECONDS", self.container.config))

    def get_dependency(self, worker_ctx):
        return _TimedServiceProxy(super().get_dependency(worker_ctx), self.target_service,
                                  self.timeout)


class _TimedServiceProxy:
    """``proxy.method(...)`` as with nameko's service proxy, within ``seconds``."""

    def __init__(self, proxy, service, seconds):
        self._proxy, self._service, self._seconds = proxy, service, seconds

    def __getattr__(self, name):
        method = getattr(self._proxy, name)

        def call(*args, **kwargs):
            deadline = eventlet.Timeout(self._seconds)
            try:
                return method.call_async(*args, **kwargs).result()
            except eventlet.Timeout as exc:
                if exc is not deadline:
                    raise
                raise Unavailable(
                    f"Layanan {self._service} tidak menjawab dalam {self._seconds:g} detik; "
                    "coba lagi sebentar lagi.", service=self._service) from None
            finally:
                deadline.cancel()

        call.__name__ = name
        return call
