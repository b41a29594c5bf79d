"""RPC for Antre services: ``@rpc`` to serve, :class:`RpcClient` to call.

``@rpc`` is nameko's, but a marshmallow ``ValidationError`` leaves the service as
:class:`~services.kernel.errors.InvalidInput` (which callers receive as that class,
with every field's messages), and client errors are logged by nameko as expected
(a warning), not as failures of the service: one line, without a traceback (an
unknown code asked for is the caller's mistake, not the service's).

:class:`RpcClient` is nameko's ``RpcProxy`` with a deadline (``RPC_TIMEOUT_SECONDS``).
"""

import functools
import inspect
import logging

import eventlet
from marshmallow import ValidationError
from nameko.exceptions import IncorrectSignature, registry
from nameko.rpc import Rpc, RpcProxy

from services.kernel.config import setting
from services.kernel.errors import AntreError, InvalidInput, Unavailable, every_error_class
from services.kernel.validation import flatten


def register_remote_errors():
    """Register every :class:`AntreError` class defined so far with nameko, so that an
    RPC caller gets the same class back (what ``deserialize_to_instance`` does, done
    when an RPC entrypoint or client starts rather than at import). Call it in a
    process that uses ``ClusterRpcProxy`` directly."""
    for cls in every_error_class():
        registry[f"{cls.__module__}.{cls.__name__}"] = cls


class ClientErrorsInOneLine(logging.Filter):
    """Drop the traceback from nameko's "(expected) error handling worker" warning when
    the error is an :class:`AntreError` (a client error answered to the caller): the
    warning stays, as one line naming the worker and the message."""

    def filter(self, record):
        exc_info = record.exc_info
        if exc_info and isinstance(exc_info[1], AntreError) and \
                str(record.msg).startswith("(expected)"):
            record.exc_info = None
            record.exc_text = None
        return True


CONTAINER_LOG = logging.getLogger("nameko.containers")  # where nameko logs worker errors


def log_client_errors_in_one_line():
    if not any(isinstance(f, ClientErrorsInOneLine) for f in CONTAINER_LOG.filters):
        CONTAINER_LOG.addFilter(ClientErrorsInOneLine())


class _Rpc(Rpc):
    def setup(self):
        register_remote_errors()
        log_client_errors_in_one_line()
        super().setup()


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

        return _Rpc.decorator(**kwargs)(invalid_input_as_antre_error)

    return decorator(fn) if fn is not None else decorator


class RpcClient(RpcProxy):
    """nameko's ``RpcProxy``, safe at start-up and with a deadline.

    - A call waits until the container's consumers, its RPC reply queue among them, are
      up. nameko 2 starts every extension at once: a worker that calls out at the very
      start (a timer that fires at start-up, or an HTTP request that arrives as soon as
      the web server listens) would publish its request before its reply queue exists,
      and the answer would be routed nowhere.
    - A call gives up after ``RPC_TIMEOUT_SECONDS`` (default 10) with
      :class:`~services.kernel.errors.Unavailable` (HTTP 503): the other service may be
      gone, and nameko 2 would wait for its answer for ever.

    Both found by the system test: after a restart a timer's call lost its answer, the
    worker waited for ever, every later tick was blocked and then the service's stop.
    """

    def setup(self):
        register_remote_errors()
        super().setup()
        self.timeout = float(setting("RPC_TIMEOUT_SECONDS", self.container.config))

    def get_dependency(self, worker_ctx):
        # nameko 2.14's QueueConsumer sets this event once every consumer it serves
        # (the reply listener's included) is declared and consuming.
        ready = self.rpc_reply_listener.queue_consumer._consumers_ready
        return _TimedServiceProxy(super().get_dependency(worker_ctx), self.target_service,
                                  self.timeout, ready)


class _TimedServiceProxy:
    """``proxy.method(...)`` as with nameko's service proxy, within ``seconds``."""

    def __init__(self, proxy, service, seconds, ready):
        self._proxy, self._service, self._seconds, self._ready = proxy, service, seconds, ready

    def __getattr__(self, name):
        method = getattr(self._proxy, name)

        def call(*args, **kwargs):
            deadline = eventlet.Timeout(self._seconds)
            try:
                if not self._ready.ready():
                    self._ready.wait()
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
