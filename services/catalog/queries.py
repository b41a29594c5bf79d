"""What the catalog can be asked to show: lists with filters, one entity, the services
of a counter and the counters of a service, the whole catalog, the audit log.

Entry points call these with arguments already loaded by :mod:`services.catalog.schemas`;
nothing here writes.
"""

from services.catalog.domain import NAME, SINGULAR
from services.kernel.errors import NotFound

# More than any site has: a counter lists at most 200 services (the schema's limit).
RELATED = 500


def list_entities(repository, kind, query):
    """``{"items": [...], "total": n}``: one page of ``kind`` matching ``query``
    (see :func:`services.catalog.schemas.list_query`)."""
    items, total = repository.find(kind, query, query["limit"], query["offset"])
    return {"items": items, "total": total}


def get(repository, kind, code):
    entity = repository.get(kind, code)
    if entity is None:
        raise NotFound(f"Tidak ada {NAME[kind]} dengan kode {code!r}.", kind=SINGULAR[kind],
                       code=code)
    return entity


def services_of_counter(repository, code):
    counter = get(repository, "counters", code)
    items, _ = repository.find("services", {"counter": counter["code"]}, RELATED, 0)
    return items


def counters_of_service(repository, code):
    get(repository, "services", code)
    items, _ = repository.find("counters", {"service": code}, RELATED, 0)
    return items


def export_catalog(repository):
    return repository.load().export()


def audit_entries(repository, limit=100):
    """The latest changes, newest first."""
    return repository.audit_entries(limit)
