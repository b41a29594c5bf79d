"""What the catalog service is wired with: its store, and the relay of the events a
write left in the outbox."""

import logging

import yaml
from werkzeug.wrappers import Response

from services.catalog import commands
from services.catalog.domain import KIND_OF
from services.catalog.repository import CatalogRepository
from services.kernel.auth import warn_if_open
from services.kernel.config import setting
from services.kernel.infra.mongo import MongoDatabase

log = logging.getLogger(__name__)


class CatalogStore(MongoDatabase):
    """The catalog repository; at start-up it finishes interrupted imports and, when
    ``CATALOG_SEED`` is ``if-empty`` (the default), loads the sample catalog into an
    empty database."""

    RECOVERY = (("recover", "finished %d catalog change(s) interrupted by a crash"),)

    def __init__(self):
        super().__init__(CatalogRepository)

    def start(self):
        super().start()
        seed = setting("CATALOG_SEED", self.container.config)
        if seed == "if-empty" and self.repository.is_empty():
            summary = commands.load_sample(self.repository)
            log.info("empty catalog: loaded the sample catalog %s", summary["counts"])
        warn_if_open(self.container.config, self.container.service_name)


def relay(outbox, repository, *changed):
    """Publish what the last write left in the outbox of the ``(kind, code)`` documents
    it changed (the sweep catches whatever this misses)."""
    try:
        for kind, code in changed:
            outbox.relay_document(repository.db[kind], code)
    except Exception:  # the events stay in the outbox; the timer sweep retries them
        log.warning("relay failed; the outbox sweep will retry", exc_info=True)


def changed_by(summary):
    """The ``(kind, code)`` of every entity an import changed."""
    return [(KIND_OF[c["kind"]], c["code"]) for c in summary["changed"]]


def yaml_attachment(document, filename):
    text = yaml.safe_dump(document, allow_unicode=True, sort_keys=False)
    return Response(text, mimetype="application/yaml",
                    headers={"Content-Disposition": f"attachment; filename={filename}"})
