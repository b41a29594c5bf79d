"""Every HTTP endpoint of the four services, with the valid input hostile input starts from.

``@name`` values are ids the fixtures make (a ticket, a webhook, an account).
"""

from services.catalog.schemas import FILTERS
from tests.hostile.support import Route
from tests.integration.test_queue_service import ALWAYS_OPEN, hall_catalog
from tests.unit.catalog.factories import agency, counter, service, site

PASSWORD = "kata-sandi-yang-panjang"
SCORES = {f"u{i}": 4 for i in range(1, 10)}
KINDS = ("sites", "agencies", "services", "counters")
EXISTING = {"sites": "BWI", "agencies": "DISDUKCAPIL", "services": "KTP-EL", "counters": "L01"}
NEW = {
    "sites": site(code="HX", name="MPP Uji", opening_hours=ALWAYS_OPEN[:2],
                  closed_dates=[{"date": "2030-01-01", "label": "Tahun Baru"}]),
    "agencies": agency(code="HOSTILE", name="Instansi Uji"),
    "services": service(code="HOSTILE-SVC", name="Layanan Uji", ticket_prefix="H"),
    "counters": counter(code="HX01", name="Loket Uji", services=["KTP-EL", "AKTA"]),
}
PATCHES = {
    "sites": {k: v for k, v in site(opening_hours=ALWAYS_OPEN).items() if k != "code"},
    "agencies": {"name": "Dinas Kependudukan", "kind": "local_office", "active": True},
    "services": {k: v for k, v in service(daily_quota=None).items() if k != "code"},
    "counters": {"site": "BWI", "agency": "DISDUKCAPIL", "name": "Loket 1",
                 "services": ["KTP-EL", "AKTA"], "zone": "Lantai 1", "active": True},
}

CATALOG = [
    *(Route("GET", "/api/catalog/{kind}", {"kind": kind}, query=(*FILTERS[kind], "limit", "offset"))
      for kind in KINDS),
    *(Route("GET", "/api/catalog/{kind}/{code}", {"kind": kind, "code": EXISTING[kind]})
      for kind in KINDS),
    Route("GET", "/api/catalog/counters/{code}/services", {"code": "L01"}),
    Route("GET", "/api/catalog/services/{code}/counters", {"code": "KTP-EL"}),
    Route("GET", "/api/catalog/export", query=("format",)),
    Route("POST", "/api/catalog/import", query=("mode", "dry_run"), body=hall_catalog(),
          document=True, writes=True),
    *(Route("POST", "/api/catalog/{kind}", {"kind": kind}, body=NEW[kind], writes=True)
      for kind in KINDS),
    *(Route("PATCH", "/api/catalog/{kind}/{code}", {"kind": kind, "code": EXISTING[kind]},
            body=PATCHES[kind], writes=True) for kind in KINDS),
    Route("POST", "/api/catalog/{kind}/{code}/{action}",
          {"kind": "counters", "code": "L02", "action": "deactivate"}, writes=True),
    Route("POST", "/api/catalog/auth/login", body={"username": "op.base", "password": PASSWORD}),
    Route("POST", "/api/catalog/accounts", writes=True, body={
        "username": "op.hostile", "password": PASSWORD, "role": "operator",
        "agency": "DISDUKCAPIL", "counters": ["L01"], "name": "Operator Uji"}),
    Route("GET", "/api/catalog/accounts"),
    Route("POST", "/api/catalog/accounts/{username}/{action}",
          {"username": "@account", "action": "deactivate"}, writes=True),
    Route("POST", "/api/catalog/devices", body={"kind": "kiosk", "site": "BWI", "name": "Kiosk 1"},
          writes=True),
    Route("GET", "/api/catalog/devices"),
    Route("POST", "/api/catalog/devices/{device_id}/revoke", {"device_id": "@device"},
          writes=True),
    Route("POST", "/api/catalog/api-keys", body={"name": "Grafana", "agency": "DISDUKCAPIL"},
          writes=True),
    Route("GET", "/api/catalog/api-keys"),
    Route("POST", "/api/catalog/api-keys/{key_id}/revoke", {"key_id": "@api_key"},
          writes=True),
    Route("GET", "/api/catalog/audit"),
    Route("GET", "/health"),
]

QUEUE = [
    Route("POST", "/api/queue/tickets", writes=True, body={
        "service": "KTP-EL", "channel": "kiosk", "priority": "elderly", "site": "BWI",
        "phone": "0812-3456-7890", "lang": "id"}),
    Route("GET", "/api/queue/tickets",
          query=("site", "service", "counter", "status", "day", "limit", "offset")),
    Route("GET", "/api/queue/tickets/{ticket_id}", {"ticket_id": "@waiting"}),
    Route("POST", "/api/queue/tickets/{ticket_id}/cancel", {"ticket_id": "@waiting"},
          body={"reason": "Salah ambil layanan"}, body_required=False, writes=True),
    Route("POST", "/api/queue/tickets/{ticket_id}/feedback", {"ticket_id": "@done"},
          body={"scores": SCORES, "comment": "Cepat dan ramah"}, writes=True,
          headers={"X-Ticket-Secret": "@done_secret"}),
    Route("POST", "/api/queue/tickets/{ticket_id}/{action}", {"ticket_id": "@called", "action": "start"},
          body={"counter": "L01"}, writes=True),
    Route("POST", "/api/queue/tickets/{ticket_id}/transfer", {"ticket_id": "@called"},
          body={"counter": "L01", "service": "AKTA"}, writes=True),
    Route("POST", "/api/queue/counters/{counter}/{action}", {"counter": "L03", "action": "open"},
          body={}, body_required=False, writes=True),
    Route("POST", "/api/queue/counters/{counter}/pause", {"counter": "L02"},
          body={"reason": "Istirahat sebentar"}, writes=True),
    Route("POST", "/api/queue/counters/{counter}/call-next", {"counter": "L04"}, writes=True),
    Route("GET", "/api/queue/counters/{counter}", {"counter": "L01"}),
    Route("GET", "/api/queue/overview", query=("site",)),
    Route("GET", "/health"),
]

NOTIFY = [
    Route("GET", "/display/{site}", {"site": "BWI"}, query=("lang",)),
    Route("GET", "/display/assets/{name}", {"name": "display.js"}),
    Route("GET", "/api/notify/display/{site}/stream", {"site": "BWI"}, query=("after",)),
    Route("GET", "/api/notify/display/{site}/recent", {"site": "BWI"}, query=("limit",)),
    Route("POST", "/api/notify/webhooks", writes=True, body={
        "agency": "DISDUKCAPIL", "url": "https://hooks.example.test/antre", "secret": "s" * 32,
        "event_types": ["antre.ticket.*"]}),
    Route("GET", "/api/notify/webhooks", query=("agency",)),
    Route("POST", "/api/notify/webhooks/{webhook_id}/{action}",
          {"webhook_id": "@webhook", "action": "deactivate"}, writes=True),
    Route("GET", "/api/notify/webhooks/{webhook_id}/deliveries", {"webhook_id": "@webhook"},
          query=("status", "limit")),
    Route("POST", "/api/notify/deliveries/{delivery_id}/redeliver", {"delivery_id": "@delivery"},
          writes=True),
    Route("GET", "/api/notify/audit"),
    Route("GET", "/api/notify/tickets/{ticket_id}/messages", {"ticket_id": "@ticket"}),
    Route("GET", "/health"),
]

REPORTING = [
    *(Route("GET", path, query=("site", "date", "agency"))
      for path in ("/api/reporting/daily", "/api/reporting/daily.csv", "/api/reporting/breakdown")),
    *(Route("GET", path, query=("site", "from", "to", "agency"))
      for path in ("/api/reporting/ikm", "/api/reporting/ikm.csv")),
    Route("GET", "/metrics", query=("agency",)),
    Route("POST", "/api/reporting/replay", writes=True),
    Route("GET", "/api/reporting/dead-letters", query=("limit",)),
    Route("POST", "/api/reporting/dead-letters/replay", query=("limit",), writes=True),
    Route("GET", "/health"),
]

SERVICES = {"catalog": CATALOG, "queue": QUEUE, "notify": NOTIFY, "reporting": REPORTING}


def cases(select):
    """``(service, route)`` pairs of every route ``select(route)`` is true for, with ids."""
    return [(name, route) for name, routes in SERVICES.items() for route in routes if select(route)]


def case_id(value):
    return str(value)
