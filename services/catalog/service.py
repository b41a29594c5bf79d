"""The catalog service: sites, agencies, services and counters of an MPP.

Entrypoints stay thin: parse the boundary, call :mod:`services.catalog.commands`
or the repository, relay the events the write produced.
"""

import logging

import yaml
from marshmallow import ValidationError
from nameko.dependency_providers import Config
from werkzeug.wrappers import Response

from services.catalog import commands
from services.catalog.accounts import Accounts
from services.catalog.domain import KINDS, NAME, SINGULAR
from services.catalog.repository import CatalogRepository
from services.catalog.schemas import FILTERS, ExportQuerySchema, ImportQuerySchema, ListQuerySchema
from services.kernel.auth import require, require_admin, warn_if_open
from services.kernel.config import setting
from services.kernel.errors import InvalidInput, NotFound
from services.kernel.infra.health import HealthMixin
from services.kernel.infra.http import http, json_ready, query_params, read_json
from services.kernel.infra.mongo import MongoDatabase
from services.kernel.infra.outbox import Outbox, sweep_timer
from services.kernel.infra.rpc import rpc

log = logging.getLogger(__name__)

KIND = "<any(sites,agencies,services,counters):kind>"
KIND_OF = {singular: kind for kind, singular in SINGULAR.items()}


class CatalogStore(MongoDatabase):
    """The catalog repository; at start-up it finishes interrupted imports and, when
    ``CATALOG_SEED`` is ``if-empty`` (the default), loads the sample catalog into an
    empty database."""

    def __init__(self):
        super().__init__(CatalogRepository)

    def start(self):
        recovered = self.repository.recover()
        if recovered:
            log.warning("finished %d catalog change(s) interrupted by a crash", recovered)
        seed = setting("CATALOG_SEED", self.container.config) or "if-empty"
        if seed == "if-empty" and self.repository.is_empty():
            summary = commands.load_sample(self.repository)
            log.info("empty catalog: loaded the sample catalog %s", summary["counts"])
        warn_if_open(self.container.config, self.container.service_name)


def _list_query(kind, params):
    """The list parameters for ``kind``; every problem reported at once."""
    allowed = set(FILTERS[kind]) | {"limit", "offset"}
    problems = {k: [f"Bukan filter untuk {kind}; gunakan salah satu dari: "
                    f"{', '.join(sorted(allowed))}."] for k in sorted(params) if k not in allowed}
    try:
        query = ListQuerySchema().load({k: v for k, v in params.items() if k in allowed})
    except ValidationError as exc:
        problems.update(exc.messages)
    if problems:
        raise InvalidInput(problems)
    return query


class CatalogService(HealthMixin):
    name = "catalog"

    repository = CatalogStore()
    outbox = Outbox()
    config = Config()

    # -- events -------------------------------------------------------------------------

    def _relay(self, *changed):
        """Publish what the last write left in the outbox of the ``(kind, code)``
        documents it changed (the sweep catches whatever this misses)."""
        try:
            for kind, code in changed:
                self.outbox.relay_document(self.repository.db[kind], code)
        except Exception:  # the events stay in the outbox; the timer sweep retries them
            log.warning("relay failed; the outbox sweep will retry", exc_info=True)

    @sweep_timer
    def sweep_outbox(self):
        for collection in self.repository.outbox_collections():
            self.outbox.sweep(collection)

    # -- RPC ----------------------------------------------------------------------------

    @rpc
    def list(self, collection, **filters):
        """``{"items": [...], "total": n}`` of one collection (sites, agencies, services,
        counters); filters as in the HTTP API."""
        if collection not in KINDS:
            raise InvalidInput({"collection": [f"Harus salah satu dari: {', '.join(KINDS)}."]})
        query = _list_query(collection, filters)
        items, total = self.repository.find(collection, query, query["limit"], query["offset"])
        return {"items": items, "total": total}

    @rpc
    def get(self, kind, code):
        if kind not in KINDS:
            raise InvalidInput({"kind": [f"Harus salah satu dari: {', '.join(KINDS)}."]})
        entity = self.repository.get(kind, code)
        if entity is None:
            raise NotFound(f"Tidak ada {NAME[kind]} dengan kode {code!r}.", kind=SINGULAR[kind],
                           code=code)
        return entity

    @rpc
    def get_site(self, code):
        return self.get("sites", code)

    @rpc
    def get_agency(self, code):
        return self.get("agencies", code)

    @rpc
    def get_service(self, code):
        return self.get("services", code)

    @rpc
    def get_counter(self, code):
        return self.get("counters", code)

    @rpc
    def services_of_counter(self, code):
        counter = self.get("counters", code)
        items, _ = self.repository.find("services", {"counter": counter["code"]}, 500, 0)
        return items

    @rpc
    def counters_of_service(self, code):
        self.get("services", code)
        items, _ = self.repository.find("counters", {"service": code}, 500, 0)
        return items

    @rpc
    def export_catalog(self):
        return commands.export_catalog(self.repository)

    @rpc
    def import_catalog(self, document, mode="merge", dry_run=False):
        summary = commands.import_catalog(self.repository, document, mode=mode, dry_run=dry_run)
        self._relay(*((KIND_OF[c["kind"]], c["code"]) for c in summary["changed"]))
        return summary

    # -- HTTP: public reads -------------------------------------------------------------

    @http("GET", f"/api/catalog/{KIND}")
    def http_list(self, request, kind):
        return self.list(kind, **query_params(request))

    @http("GET", f"/api/catalog/{KIND}/<code>")
    def http_get(self, request, kind, code):
        return self.get(kind, code)

    @http("GET", "/api/catalog/counters/<code>/services")
    def http_services_of_counter(self, request, code):
        items = self.services_of_counter(code)
        return {"items": items, "total": len(items)}

    @http("GET", "/api/catalog/services/<code>/counters")
    def http_counters_of_service(self, request, code):
        items = self.counters_of_service(code)
        return {"items": items, "total": len(items)}

    @http("GET", "/api/catalog/export")
    def http_export(self, request):
        require_admin(request, self.config)
        fmt = ExportQuerySchema().load(query_params(request))["format"]
        document = self.export_catalog()
        if fmt == "yaml":
            text = yaml.safe_dump(document, allow_unicode=True, sort_keys=False)
            return Response(text, mimetype="application/yaml",
                            headers={"Content-Disposition": "attachment; filename=catalog.yaml"})
        return document

    # -- HTTP: admin writes (each one audit-logged) --------------------------------------

    @http("POST", "/api/catalog/import")
    def http_import(self, request):
        principal = require_admin(request, self.config)
        options = ImportQuerySchema().load(query_params(request))
        document = commands.parse_document(request.get_data(), request.content_type)
        summary = commands.import_catalog(self.repository, document, principal=principal,
                                          **options)
        self._relay(*((KIND_OF[c["kind"]], c["code"]) for c in summary["changed"]))
        return summary

    @http("POST", f"/api/catalog/{KIND}")
    def http_create(self, request, kind):
        principal = require_admin(request, self.config)
        entity = commands.create(self.repository, kind, read_json(request), principal)
        self._relay((kind, entity["code"]))
        return 201, entity

    @http("PATCH", f"/api/catalog/{KIND}/<code>")
    def http_update(self, request, kind, code):
        principal = require_admin(request, self.config)
        entity = commands.update(self.repository, kind, code, read_json(request), principal)
        self._relay((kind, code))
        return entity

    @http("POST", f"/api/catalog/{KIND}/<code>/<any(activate,deactivate):action>")
    def http_set_active(self, request, kind, code, action):
        principal = require_admin(request, self.config)
        entity = commands.set_active(self.repository, kind, code, action == "activate", principal)
        self._relay((kind, code))
        return entity

    # -- HTTP: people, devices and keys ---------------------------------------------------

    @property
    def accounts(self):
        return Accounts(self.repository.db, self.config)

    @http("POST", "/api/catalog/auth/login")
    def http_login(self, request):
        return self.accounts.login(read_json(request))

    @http("POST", "/api/catalog/accounts")
    def http_create_account(self, request):
        principal = require(request, self.config, "agency_admin")
        return 201, json_ready(self.accounts.create_user(principal, read_json(request),
                                                         self.repository.load()))

    @http("GET", "/api/catalog/accounts")
    def http_accounts(self, request):
        principal = require(request, self.config, "agency_admin")
        items = self.accounts.list_users(principal)
        return {"items": json_ready(items), "total": len(items)}

    @http("POST", "/api/catalog/accounts/<username>/<any(activate,deactivate):action>")
    def http_account_active(self, request, username, action):
        principal = require(request, self.config, "agency_admin")
        return json_ready(self.accounts.set_user_active(principal, username,
                                                        action == "activate"))

    @http("POST", "/api/catalog/devices")
    def http_create_device(self, request):
        principal = require_admin(request, self.config)
        return 201, json_ready(self.accounts.create_device(principal, read_json(request),
                                                           self.repository.load()))

    @http("POST", "/api/catalog/api-keys")
    def http_create_api_key(self, request):
        principal = require_admin(request, self.config)
        return 201, json_ready(self.accounts.create_api_key(principal, read_json(request)))

    @http("GET", "/api/catalog/audit")
    def http_audit(self, request):
        require_admin(request, self.config)
        items = self.accounts.audit_entries()
        return {"items": json_ready(items), "total": len(items)}

    @rpc
    def verify_api_key(self, key):
        """The principal (subject, role, agency) of an API key, or None."""
        return self.accounts.verify_api_key(key)
