"""Every page is sent with one security policy that names the APIs it may call."""

import pytest

from services.kernel.infra.pages import page


@pytest.fixture(autouse=True)
def no_public_urls_from_the_environment(monkeypatch):
    for name in ("CATALOG", "QUEUE", "NOTIFY", "REPORTING"):
        monkeypatch.delenv(f"PUBLIC_{name}_URL", raising=False)


def policy(response):
    return dict(part.strip().split(" ", 1) for part in
                response.headers["Content-Security-Policy"].split(";"))


def test_behind_the_gateway_a_page_may_talk_to_its_own_origin_only(tmp_path):
    (tmp_path / "p.html").write_text("<p>{{QUEUE_URL}}</p>", encoding="utf-8")
    response = page(tmp_path, "p.html", {})
    rules = policy(response)
    assert rules["connect-src"] == "'self'"
    assert rules["script-src"] == "'self'" and rules["style-src"] == "'self'"
    assert rules["frame-ancestors"] == "'none'" and rules["object-src"] == "'none'"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Robots-Tag"] == "noindex"
    assert response.get_data(as_text=True) == "<p></p>"


@pytest.mark.parametrize("variable", ["PUBLIC_QUEUE_URL", "PUBLIC_CATALOG_URL"])
def test_services_reached_directly_are_the_only_other_origins_allowed(tmp_path, variable):
    (tmp_path / "p.html").write_text("<p></p>", encoding="utf-8")
    rules = policy(page(tmp_path, "p.html", {variable: "http://mpp.example:8001"}))
    assert rules["connect-src"] == "'self' http://mpp.example:8001"
    assert "http://mpp.example:8001" not in rules["script-src"]
