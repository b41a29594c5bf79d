"""Small valid catalog entities for tests; override any field with keyword arguments."""

WEEK = [
    {"day": day, "open": "07:30", "close": "15:30",
     "breaks": [{"start": "12:00", "end": "13:00", "label": "Istirahat"}]}
    for day in ("monday", "tuesday", "wednesday", "thursday")
] + [
    {"day": "friday", "open": "07:30", "close": "14:30",
     "breaks": [{"start": "11:00", "end": "13:00", "label": "Salat Jumat"}]},
    {"day": "saturday", "open": "08:00", "close": "12:00", "breaks": []},
]


def site(**kw):
    return {"code": "BWI", "name": "MPP Banyuwangi", "timezone": "Asia/Jakarta",
            "address": "Jl. Jenderal Ahmad Yani", "opening_hours": WEEK, "closed_dates": [],
            "active": True, **kw}


def agency(**kw):
    return {"code": "DISDUKCAPIL", "name": "Dinas Kependudukan dan Pencatatan Sipil",
            "kind": "local_office", "active": True, **kw}


def service(**kw):
    return {"code": "KTP-EL", "site": "BWI", "agency": "DISDUKCAPIL",
            "name": "Perekaman KTP Elektronik", "ticket_prefix": "A",
            "requirements": ["Fotokopi Kartu Keluarga"], "procedure": ["Ambil nomor antrean"],
            "completion_time": {"amount": 1, "unit": "working_days"}, "fee": 0,
            "product": "KTP-el", "legal_basis": ["UU 24/2013"],
            "complaint_channel": "SP4N-LAPOR!", "daily_quota": 100, "target_wait_minutes": 30,
            "typical_service_minutes": 10, "active": True, **kw}


def counter(**kw):
    return {"code": "L01", "site": "BWI", "agency": "DISDUKCAPIL", "name": "Loket 1",
            "services": ["KTP-EL"], "zone": "Lantai 1", "active": True, **kw}


def document(**kinds):
    base = {"version": 1, "sites": [site()], "agencies": [agency()], "services": [service()],
            "counters": [counter()]}
    base.update(kinds)
    return base
