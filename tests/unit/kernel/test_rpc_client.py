"""RpcClient: a call to a service that does not answer in time ends with Unavailable (503)."""

import time

import eventlet
import pytest
import requests
from nameko.rpc import rpc as nameko_rpc
from nameko.testing.services import entrypoint_hook
from nameko.timer import timer
from nameko.web.handlers import http

from services.kernel.errors import Unavailable
from services.kernel.infra.rpc import RpcClient


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


STARTUP_ANSWERS = []


class CallsAtStartUp:
    """Calls another service in the very first instant of its life (an eager timer), when
    nameko has not yet declared its reply queue."""

    name = "calls_at_start_up"
    echo = RpcClient("echo")

    @timer(interval=3600, eager=True)
    def first_thing(self):
        try:
            STARTUP_ANSWERS.append(self.echo.back("first"))
        except Unavailable as exc:
            STARTUP_ANSWERS.append(exc)


def test_a_call_at_start_up_waits_for_the_reply_queue_and_gets_its_answer(container_factory,
                                                                          rabbit_config):
    config = {**rabbit_config, "RPC_TIMEOUT_SECONDS": "3"}
    container_factory(Echo, config).start()
    STARTUP_ANSWERS.clear()
    container_factory(CallsAtStartUp, config).start()
    with eventlet.Timeout(10):
        while not STARTUP_ANSWERS:
            eventlet.sleep(0.05)
    assert STARTUP_ANSWERS == ["first"]


class AsksOverHttp:
    name = "asks_over_http"
    echo = RpcClient("echo")

    @http("GET", "/ask")
    def ask(self, request):
        try:
            return self.echo.back("answer")
        except Unavailable:
            return 503, "unavailable"


def test_a_request_that_arrives_as_the_service_starts_gets_its_answer(container_factory,
                                                                      rabbit_config, web_config):
    """The first HTTP request after a (re)start is served as soon as the web server
    listens, which nameko may do before the reply queue of its RPC calls exists."""
    config = {**rabbit_config, **web_config, "RPC_TIMEOUT_SECONDS": "3"}
    container_factory(Echo, config).start()
    url = f"http://{web_config['WEB_SERVER_ADDRESS']}/ask"
    answers = []

    def knock():
        while True:
            try:
                answers.append(requests.get(url, timeout=10))
                return
            except requests.ConnectionError:
                eventlet.sleep(0.001)

    knocker = eventlet.spawn(knock)
    container_factory(AsksOverHttp, config).start()
    with eventlet.Timeout(15):
        knocker.wait()
    assert [(a.status_code, a.text) for a in answers] == [(200, "answer")]
