"""What the HTTP server (eventlet) refuses before the application sees the request.

A request line of 8 KiB or more is a 414 and a header line of 8 KiB or more a 400,
both answered by eventlet itself, with an empty body (not the services' JSON error):
the application cannot shape these answers, so only the status is checked here.
"""

import pytest

from tests.hostile.routes import SERVICES
from tests.hostile.support import send


@pytest.mark.parametrize("service", ["catalog"])
def test_an_overlong_url_or_header_is_refused_before_the_application(target, service):
    [route] = [r for r in SERVICES["catalog"] if r.path == "/api/catalog/{kind}" and r.method == "GET"
               and r.params["kind"] == "sites"]
    for length in (8200, 70_000):
        answer = send(target, route, query="q=" + "A" * length)
        assert answer.status == 414, str(answer)
        answer = send(target, route, headers={"X-Padding": "a" * length})
        assert answer.status == 400, str(answer)
    # Just under the limits, the application answers, in JSON.
    answer = send(target, route, query="q=" + "A" * 7000)
    assert answer.status == 400 and answer.json()["error"] == "validation_error", str(answer)
