"""Login lockouts, fixed-window rate limits and whose address a request is: rules on
plain values (issue 15, item 4)."""

import pytest

from services.kernel.errors import TooManyRequests
from services.kernel.ratelimit import Lockout, RateLimit, client_address, networks

POLICY = Lockout(max_failures=3, window_seconds=60, lock_seconds=30, max_lock_seconds=100)


def fail(state, *times):
    for now in times:
        state = POLICY.after_failure(state, now)
    return state


def test_n_failures_in_a_window_lock_for_a_period_that_grows_up_to_the_maximum():
    state = fail(None, 0, 1)
    assert POLICY.locked_for(state, 2) == 0, "two failures: not yet"
    state = fail(state, 2)
    assert POLICY.locked_for(state, 2) == 30
    assert POLICY.locked_for(state, 31.5) == 1, "whole seconds, rounded up"
    assert POLICY.locked_for(state, 32) == 0
    assert POLICY.after_failure(state, 10) == state, "failures while locked change nothing"
    state = fail(state, 40, 41, 42)
    assert POLICY.locked_for(state, 42) == 60, "the second lock is twice as long"
    state = fail(state, 110, 111, 112)
    assert POLICY.locked_for(state, 112) == 100, "never longer than the maximum"


def test_failures_spread_beyond_the_window_never_lock_and_quiet_time_forgives():
    state = fail(None, 0, 1, 70, 71, 140, 141)
    assert POLICY.locked_for(state, 141) == 0
    locked = fail(None, 0, 1, 2)
    forgiven = fail(locked, 1000, 1001, 1002)
    assert POLICY.locked_for(forgiven, 1002) == 30, "a long quiet spell starts over"


def test_no_lockout_when_the_maximum_is_zero():
    off = Lockout(max_failures=0, window_seconds=60, lock_seconds=30, max_lock_seconds=100)
    state = None
    for now in range(50):
        state = off.after_failure(state, now)
    assert off.locked_for(state, 50) == 0


def test_a_fixed_window_limit_refuses_beyond_its_maximum_until_the_window_ends():
    limit = RateLimit("web_issue_per_client", 2, 600)
    assert limit.window(1234) == (1200, 1800)
    assert limit.retry_after(2, 1234) == 0
    assert limit.retry_after(3, 1234) == 566
    assert RateLimit("off", 0, 600).retry_after(10**6, 1234) == 0


def test_too_many_requests_is_429_with_retry_after_and_names_the_limit():
    error = TooManyRequests("Terlalu banyak.", retry_after=12.2, limit="web_issue_per_client")
    assert error.status == 429 and error.headers == {"Retry-After": "13"}
    assert error.to_dict() == {"error": "too_many_requests", "message": "Terlalu banyak.",
                               "retry_after": 13, "limit": "web_issue_per_client"}
    again = TooManyRequests(*error.args)  # as it arrives over RPC
    assert again.headers == error.headers and again.details == error.details


TRUSTED = networks("127.0.0.1, ::1, 10.9.0.0/16")


@pytest.mark.parametrize("peer, headers, expected", [
    # The gateway (a trusted peer) sets X-Real-IP to the address it was reached from.
    ("127.0.0.1", {"X-Real-IP": "203.0.113.7"}, "203.0.113.7"),
    ("10.9.3.4", {"X-Real-IP": "2001:db8::1"}, "2001:db8::1"),
    # Without X-Real-IP: the last X-Forwarded-For entry, the one the gateway appended;
    # what the client wrote before it is not believed.
    ("127.0.0.1", {"X-Forwarded-For": "6.6.6.6, 198.51.100.2"}, "198.51.100.2"),
    # Anyone else's headers are ignored: the peer itself is the client.
    ("198.51.100.9", {"X-Real-IP": "6.6.6.6", "X-Forwarded-For": "6.6.6.6"}, "198.51.100.9"),
    # A trusted peer with nothing, or nonsense, in the headers is the client itself.
    ("127.0.0.1", {}, "127.0.0.1"),
    ("127.0.0.1", {"X-Real-IP": "not-an-address"}, "127.0.0.1"),
    (None, {"X-Real-IP": "6.6.6.6"}, "unknown"),
])
def test_the_client_address_believes_forwarding_headers_only_from_trusted_peers(
        peer, headers, expected):
    assert client_address(peer, headers, TRUSTED) == expected


def test_trusted_proxies_are_addresses_or_networks():
    assert networks("") == ()
    with pytest.raises(ValueError):
        networks("gateway.local")
