"""The catalog service: sites, agencies, services and counters of an MPP, and the people,
devices and API keys that act on them.

Entrypoints only: parse with :mod:`services.catalog.schemas`, call one use case of
:mod:`services.catalog.commands`, :mod:`services.catalog.queries` or
:mod:`services.catalog.staff`, relay the events a write produced, answer.
"""


from services.catalog import commands, queries, schemas
from services.catalog.dependencies import CatalogStore, changed_by, relay, yaml_attachment
from services.catalog.staff import Staff
from services.kernel.infra.base import AntreService
from services.kernel.infra.http import http, json_ready, query_params, read_json
from services.kernel.infra.outbox import Outbox, sweep_timer
from services.kernel.infra.rpc import rpc
from services.kernel.ratelimit import client_of

KIND = "<any(sites,agencies,services,counters):kind>"


class CatalogService(AntreService):
    name = "catalog"

    repository = CatalogStore()
    outbox = Outbox()

    @property
    def staff(self):
        return Staff(self.repository, self.config)

    def access_source(self):
        return self.staff  # the catalog keeps the revocations: it reads them itself

    @sweep_timer
    def sweep_outbox(self):
        for collection in self.repository.outbox_collections():
            self.outbox.sweep(collection)

    # -- RPC ----------------------------------------------------------------------------

    @rpc
    def list(self, collection, **filters):
        """``{"items": [...], "total": n}`` of one collection (sites, agencies, services,
        counters); filters as in the HTTP API."""
        kind = schemas.check_kind("collection", collection)
        return queries.list_entities(self.repository, kind, schemas.list_query(kind, filters))

    @rpc
    def get(self, kind, code):
        return queries.get(self.repository, schemas.check_kind("kind", kind), code)

    @rpc
    def services_of_counter(self, code):
        return queries.services_of_counter(self.repository, code)

    @rpc
    def counters_of_service(self, code):
        return queries.counters_of_service(self.repository, code)

    @rpc
    def export_catalog(self):
        return queries.export_catalog(self.repository)

    @rpc
    def import_catalog(self, document, mode="merge", dry_run=False):
        summary = commands.import_catalog(self.repository, document, mode=mode, dry_run=dry_run)
        relay(self.outbox, self.repository, *changed_by(summary))
        return summary

    @rpc
    def verify_api_key(self, key):
        """The principal (subject, role, agency) of an API key, or None."""
        return self.staff.verify_api_key(key)

    @rpc
    def revocations(self, since=None):
        """The revoked tokens changed since ``since`` (epoch seconds; every live entry
        for None): ``{"as_of", "items": [{"subject", "valid_from", "expires_at"}]}``."""
        return self.staff.revocations(schemas.check_since(since))

    # -- HTTP: public reads -------------------------------------------------------------

    @http("GET", f"/api/catalog/{KIND}")
    def http_list(self, request, kind):
        query = schemas.list_query(kind, query_params(request))
        return queries.list_entities(self.repository, kind, query)

    @http("GET", f"/api/catalog/{KIND}/<code>")
    def http_get(self, request, kind, code):
        return queries.get(self.repository, kind, code)

    @http("GET", "/api/catalog/counters/<code>/services")
    def http_services_of_counter(self, request, code):
        items = queries.services_of_counter(self.repository, code)
        return {"items": items, "total": len(items)}

    @http("GET", "/api/catalog/services/<code>/counters")
    def http_counters_of_service(self, request, code):
        items = queries.counters_of_service(self.repository, code)
        return {"items": items, "total": len(items)}

    @http("GET", "/api/catalog/export")
    def http_export(self, request):
        self.require(request)
        fmt = schemas.ExportQuerySchema().load(query_params(request))["format"]
        document = queries.export_catalog(self.repository)
        return yaml_attachment(document, "catalog.yaml") if fmt == "yaml" else document

    # -- HTTP: admin writes (each one audit-logged) --------------------------------------

    @http("POST", "/api/catalog/import")
    def http_import(self, request):
        principal = self.require(request)
        options = schemas.ImportQuerySchema().load(query_params(request))
        document = commands.parse_document(request.get_data(), request.content_type)
        summary = commands.import_catalog(self.repository, document, principal=principal,
                                          **options)
        relay(self.outbox, self.repository, *changed_by(summary))
        return summary

    @http("POST", f"/api/catalog/{KIND}")
    def http_create(self, request, kind):
        principal = self.require(request)
        entity = commands.create(self.repository, kind, read_json(request), principal)
        relay(self.outbox, self.repository, (kind, entity["code"]))
        return 201, entity

    @http("PATCH", f"/api/catalog/{KIND}/<code>")
    def http_update(self, request, kind, code):
        principal = self.require(request)
        entity = commands.update(self.repository, kind, code, read_json(request), principal)
        relay(self.outbox, self.repository, (kind, code))
        return entity

    @http("POST", f"/api/catalog/{KIND}/<code>/<any(activate,deactivate):action>")
    def http_set_active(self, request, kind, code, action):
        principal = self.require(request)
        entity = commands.set_active(self.repository, kind, code, action == "activate", principal)
        relay(self.outbox, self.repository, (kind, code))
        return entity

    # -- HTTP: people, devices and keys ---------------------------------------------------

    @http("POST", "/api/catalog/auth/login")
    def http_login(self, request):
        data = schemas.load(schemas.LoginSchema(), read_json(request))
        return self.staff.login(data, client=client_of(request, self.config))

    @http("POST", "/api/catalog/accounts")
    def http_create_account(self, request):
        principal = self.require(request, "agency_admin")
        data = schemas.load(schemas.AccountSchema(), read_json(request))
        return 201, json_ready(self.staff.create_user(principal, data))

    @http("GET", "/api/catalog/accounts")
    def http_accounts(self, request):
        principal = self.require(request, "agency_admin")
        items = self.staff.list_users(principal)
        return {"items": json_ready(items), "total": len(items)}

    @http("POST", "/api/catalog/accounts/<username>/<any(activate,deactivate):action>")
    def http_account_active(self, request, username, action):
        principal = self.require(request, "agency_admin")
        return json_ready(self.staff.set_user_active(principal, username, action == "activate"))

    @http("POST", "/api/catalog/devices")
    def http_create_device(self, request):
        principal = self.require(request)
        data = schemas.load(schemas.DeviceSchema(), read_json(request))
        return 201, json_ready(self.staff.create_device(principal, data))

    @http("GET", "/api/catalog/devices")
    def http_devices(self, request):
        self.require(request)
        items = self.staff.list_devices()
        return {"items": json_ready(items), "total": len(items)}

    @http("POST", "/api/catalog/devices/<device_id>/revoke")
    def http_revoke_device(self, request, device_id):
        principal = self.require(request)
        return json_ready(self.staff.revoke_device(principal, device_id))

    @http("POST", "/api/catalog/api-keys")
    def http_create_api_key(self, request):
        principal = self.require(request)
        data = schemas.load(schemas.ApiKeySchema(), read_json(request))
        return 201, json_ready(self.staff.create_api_key(principal, data))

    @http("GET", "/api/catalog/api-keys")
    def http_api_keys(self, request):
        self.require(request)
        items = self.staff.list_api_keys()
        return {"items": json_ready(items), "total": len(items)}

    @http("POST", "/api/catalog/api-keys/<key_id>/revoke")
    def http_revoke_api_key(self, request, key_id):
        principal = self.require(request)
        return json_ready(self.staff.revoke_api_key(principal, key_id))

    @http("GET", "/api/catalog/audit")
    def http_audit(self, request):
        self.require(request)
        items = queries.audit_entries(self.repository)
        return {"items": json_ready(items), "total": len(items)}
