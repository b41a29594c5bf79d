"""What the reporting service is wired to: its store, the catalog (site facts and API
keys), the broker's queues of this service (dead letters, backlog), CSV answers and
settings. Everything framework-bound that ``service.py`` injects lives here."""

import logging
from datetime import timedelta

from werkzeug.wrappers import Response

from services.kernel.auth import warn_if_open
from services.kernel.config import setting
from services.kernel.errors import Unavailable
from services.kernel.infra.consumer import (
    backlog,
    peek_dead_letters,
    replay_dead_letters,
    take_dead_letter,
)
from services.kernel.infra.http import json_ready
from services.kernel.infra.mongo import MongoDatabase, is_in_memory
from services.kernel.tokens import Principal
from services.reporting.repository import ReportingRepository

log = logging.getLogger(__name__)


class ReportingStore(MongoDatabase):
    def __init__(self):
        super().__init__(ReportingRepository)

    def setup(self):
        super().setup()
        # The embedded store finishes every write before another worker runs.
        self.repository.running.concurrent = not is_in_memory(setting("MONGO_URL",
                                                                      self.container.config))

    def start(self):
        warn_if_open(self.container.config, self.container.service_name)



def api_key_check(catalog):
    """``key -> Principal or None``: a report viewer's API key, checked by the catalog
    (which keeps the keys; the catalog client remembers its answer for a while)."""
    def check(key):
        try:
            found = catalog.verify_api_key(key)
        except Exception:  # the catalog keeps the keys: without it no key can be checked
            log.warning("cannot check an API key: the catalog does not answer", exc_info=True)
            raise Unavailable("Kunci API tidak dapat diperiksa sekarang; coba lagi.") from None
        return Principal(found["subject"], found["role"], found.get("agency")) if found else None

    return check


class Broker:
    """This service's queues at the broker: its dead letters (as JSON answers them) and
    its ingest backlog."""

    def __init__(self, config, service_name):
        self.amqp_uri = setting("AMQP_URI", config)
        self.service_name = service_name

    def dead_letters(self, limit):
        return json_ready(peek_dead_letters(self.amqp_uri, self.service_name, limit))

    def replay_dead_letters(self, limit):
        return replay_dead_letters(self.amqp_uri, self.service_name, limit)

    def take_dead_letter(self, letter_id, action):
        letter = take_dead_letter(self.amqp_uri, self.service_name, letter_id, action)
        return None if letter is None else json_ready(letter)

    def backlog(self):
        return backlog(self.amqp_uri, self.service_name)


def day_close_delay(config):
    """How long after a site's local midnight its day is closed."""
    return timedelta(minutes=float(setting("DAY_CLOSE_DELAY_MINUTES", config)))


def csv_response(text, filename):
    return Response(text, mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename={filename}"})


def metrics_response(text):
    return Response(text, content_type="text/plain; version=0.0.4; charset=utf-8")
