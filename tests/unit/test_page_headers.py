"""Every page a service serves (each documented ``GET`` that answers ``text/html``: the
kiosk, the ticket page, the counter console, the display board, the dashboard) is sent
with the Content-Security-Policy, Referrer-Policy and X-Robots-Tag headers. The counter
console holds an operator's token: a page without the policy would run any script
injected into it."""

import pytest

from tests.unit.test_openapi import METHODS, SERVICES, concrete, deref, http_call, load, probe_worker


def html_pages(name):
    spec = load(name)
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method != "get" or method not in METHODS:
                continue
            ok = deref(spec, op["responses"].get("200", {}))
            url = concrete(spec, method, path)
            if "text/html" in (ok.get("content") or {}) and \
                    not url.endswith((".js", ".css", ".svg", ".png")):  # an asset's example
                yield path, url


PAGES = [(name, path, url) for name in sorted(SERVICES) for path, url in html_pages(name)]


def test_the_pages_are_found():
    assert {path for _, path, _ in PAGES} >= {"/kiosk/{site}", "/tiket/{ticket_id}", "/counter",
                                              "/display/{site}", "/dashboard/{site}"}


@pytest.mark.parametrize("name, path, url", PAGES)
def test_every_page_carries_the_security_policy(name, path, url):
    status, headers, _ = http_call(SERVICES[name], probe_worker(name), "GET", url)
    assert status == 200, f"{url}: {status}"
    policy = headers.get("Content-Security-Policy", "")
    rules = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert rules.get("script-src") == "'self'", f"{url}: {policy!r}"
    assert rules.get("frame-ancestors") == "'none'" and rules.get("object-src") == "'none'"
    assert headers.get("Referrer-Policy") == "no-referrer"
    assert headers.get("X-Robots-Tag") == "noindex"
