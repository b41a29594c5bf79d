"""Where citizen messages go: a log (default) or an SMS/WhatsApp HTTP gateway.

A provider has ``send(phone, text)`` and raises :class:`DeliveryFailed` on failure;
the caller records it and retries with backoff. Providers never log the number.
"""

import json
import logging
import re
import urllib.error
import urllib.request

from services.kernel.phone import mask

log = logging.getLogger(__name__)


class DeliveryFailed(Exception):
    """The provider could not hand the message over; the caller retries it."""


class LogProvider:
    """Writes each message to the log, with the number masked. For development and
    for MPPs that have no gateway yet."""

    name = "log"

    def __init__(self):
        self.sent = []  # (masked number, text), for tests and the development console

    def send(self, phone, text):
        self.sent.append((mask(phone), text))
        # The status link's fragment is the ticket's secret: never in a log.
        log.info("message to %s: %s", mask(phone), re.sub(r"#\S+", "#…", text))


class HttpGatewayProvider:
    """POSTs to a gateway: ``url``, extra ``headers``, and a JSON ``body`` template in
    which ``{phone}`` and ``{text}`` are replaced (JSON-escaped). Any 2xx is success."""

    name = "http"

    def __init__(self, url, headers=None, body='{"to": "{phone}", "text": "{text}"}',
                 timeout=10.0):
        self.url = url
        self.headers = {"Content-Type": "application/json", **(headers or {})}
        self.body = body
        self.timeout = timeout

    def render(self, phone, text):
        def escaped(value):
            return json.dumps(value)[1:-1]

        return self.body.replace("{phone}", escaped(phone)).replace("{text}", escaped(text))

    def send(self, phone, text):
        request = urllib.request.Request(self.url, data=self.render(phone, text).encode(),
                                         headers=self.headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                if not 200 <= response.status < 300:
                    raise DeliveryFailed(f"gateway answered {response.status}")
        except urllib.error.HTTPError as exc:
            raise DeliveryFailed(f"gateway answered {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise DeliveryFailed(f"gateway unreachable: {exc}") from None


def provider_from(config_get):
    """The provider the settings name (``SMS_PROVIDER``: log or http)."""
    if (config_get("SMS_PROVIDER") or "log") == "http":
        headers = json.loads(config_get("SMS_GATEWAY_HEADERS") or "{}")
        body = config_get("SMS_GATEWAY_BODY") or '{"to": "{phone}", "text": "{text}"}'
        return HttpGatewayProvider(config_get("SMS_GATEWAY_URL"), headers, body)
    return LogProvider()
