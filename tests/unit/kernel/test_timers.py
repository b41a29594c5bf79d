"""ConfiguredTimer: its interval is a setting; the first tick waits for the container."""

import time

import eventlet
import pytest

from services.kernel.timers import ConfiguredTimer, configured_timer

TICKS = []


class Ticking:
    name = "ticking"

    @configured_timer("TICK_SECONDS")
    def tick(self):
        TICKS.append(time.monotonic())


@pytest.fixture(autouse=True)
def short_delay(monkeypatch):
    TICKS.clear()
    monkeypatch.setattr(ConfiguredTimer, "START_DELAY_SECONDS", 0.5)


def test_the_first_tick_comes_after_the_start_delay_then_every_interval(container_factory, rabbit_config):
    container = container_factory(Ticking, {**rabbit_config, "TICK_SECONDS": "0.2"})
    started = time.monotonic()
    container.start()
    eventlet.sleep(1.0)
    container.stop()
    assert TICKS, "the timer never fired"
    assert TICKS[0] - started >= 0.45, "the first tick waited for the start delay"
    assert len(TICKS) >= 2, "then it ticked every interval"


def test_a_container_stopped_during_the_delay_stops_at_once_without_a_tick(container_factory,
                                                                            rabbit_config,
                                                                            monkeypatch):
    monkeypatch.setattr(ConfiguredTimer, "START_DELAY_SECONDS", 10.0)
    container = container_factory(Ticking, {**rabbit_config, "TICK_SECONDS": "60"})
    container.start()
    started = time.monotonic()
    container.stop()
    assert time.monotonic() - started < 5, "it did not sit out the 10 s delay"
    assert TICKS == []
