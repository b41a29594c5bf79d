"""Pages and their assets, served by the service that owns their data.

A page is an HTML file with ``{{NAME}}`` placeholders, filled (HTML-escaped) when it is
served; every page also gets the base URLs of the four APIs (``{{CATALOG_URL}}`` ...),
empty behind the gateway (same origin) or ``http://host:port`` when services are
reached directly (``PUBLIC_<SERVICE>_URL``). Nothing is loaded from outside the MPP: every
page is sent with one Content-Security-Policy (scripts, styles and images from its own
service only; requests only to the four APIs), no referrer and no indexing, so that the
pages themselves do not each repeat these in a ``<meta>``.
"""

import html
import mimetypes
from pathlib import Path

from werkzeug.wrappers import Response

from services.kernel.config import setting
from services.kernel.errors import NotFound

SERVICES = ("catalog", "queue", "notify", "reporting")
TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml",
         ".html": "text/html", ".json": "application/json"}


def api_bases(config):
    return {f"{name.upper()}_URL": setting(f"PUBLIC_{name.upper()}_URL", config) or ""
            for name in SERVICES}


def page_policy(bases):
    """The Content-Security-Policy of every page: its own service, and the four APIs."""
    apis = " ".join(base for base in bases.values() if base)
    return ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
            f"connect-src 'self' {apis}".rstrip() + "; object-src 'none'; base-uri 'none'; "
            "form-action 'none'; frame-ancestors 'none'")


def page(directory, name, config, **values):
    text = (Path(directory) / name).read_text(encoding="utf-8")
    bases = api_bases(config)
    for key, value in {**bases, **values}.items():
        text = text.replace("{{" + key + "}}", html.escape(str(value), quote=True))
    return Response(text, mimetype="text/html",
                    headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff",
                             "Content-Security-Policy": page_policy(bases),
                             "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"})


def asset(directory, name):
    path = Path(directory) / name
    if "/" in name or name.startswith(".") or path.suffix not in TYPES or not path.is_file():
        raise NotFound(f"Berkas {name} tidak ada.", name=name)
    return Response(path.read_bytes(), mimetype=TYPES.get(path.suffix)
                    or mimetypes.guess_type(name)[0],
                    # Revalidated every time: a page never mixes old and new assets.
                    headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})
