"""RpcClient: a call to a service that does not answer in time ends with Unavailable (503)."""

import time

import eventlet
import pytest
from nameko.rpc import rpc as nameko_rpc
from nameko.testing.services import entrypoint_hook

from services.kernel.errors import Unavailable
from services.kernel.rpc import RpcClient


class Caller:
    name = "caller"
    slow = RpcClient("slow")
    echo = RpcClient("echo")

    @nameko_rpc
    def ask_slow(self):
        return self.slow.answer()

    @nameko_rpc
    def ask_echo(self, value):
        return self.echo.back(value)


class Slow:
    """Answers after 3 s: longer than the caller waits (a lost reply looks the same)."""

    name = "slow"

    @nameko_rpc
    def answer(self):
        eventlet.sleep(3)
        return "too late"


class Echo:
    name = "echo"

    @nameko_rpc
    def back(self, value):
        return value


@pytest.fixture
def config(rabbit_config):
    return {**rabbit_config, "RPC_TIMEOUT_SECONDS": "0.5"}


def test_a_call_not_answered_in_time_gives_up_with_unavailable(container_factory, config):
    container_factory(Slow, config).start()
    caller = container_factory(Caller, config)
    caller.start()
    started = time.monotonic()
    with entrypoint_hook(caller, "ask_slow") as ask, pytest.raises(Unavailable) as raised:
        ask()
    assert 0.4 <= time.monotonic() - started < 2.5
    assert raised.value.details == {"service": "slow"}
    assert "slow" in raised.value.message


def test_a_call_that_is_answered_returns_the_answer(container_factory, config):
    container_factory(Echo, config).start()
    caller = container_factory(Caller, config)
    caller.start()
    with entrypoint_hook(caller, "ask_echo") as ask:
        assert ask({"ticket": "A-001"}) == {"ticket": "A-001"}
