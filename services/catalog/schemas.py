"""Marshmallow schemas for everything that crosses the catalog's boundary."""

from zoneinfo import available_timezones

from marshmallow import (
    EXCLUDE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates,
    validates_schema,
)

from services.catalog.domain import KINDS
from services.kernel.errors import InvalidInput
from services.kernel.validation import CODE, JsonBoolean, Pattern, StrictSchema, flatten

PREFIX = Pattern(
    r"[A-Z][A-Z0-9]{0,2}", error="1 sampai 3 karakter: huruf besar, lalu huruf besar atau angka."
)
HHMM = Pattern(r"(([01]\d|2[0-3]):[0-5]\d|24:00)",  # 24:00 = end of the day
               error="Gunakan JJ:MM 24 jam (24:00 untuk tengah malam).")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
TIMEZONES = frozenset(available_timezones())
AGENCY_KINDS = ("local_office", "national_body", "state_company", "regional_company", "bank")
TIME_UNITS = ("minutes", "hours", "working_days", "days")


def text(max_length, required=True, check=None, **kwargs):
    """A text field; an optional one may be empty ("" is what export writes for it)."""
    if "load_default" in kwargs:
        required = False
    checks = [validate.Length(min=1 if required else 0, max=max_length)]
    return fields.String(required=required, validate=checks + ([check] if check else []),
                         **kwargs)


def text_list(max_items, max_length=500):
    return fields.List(
        fields.String(validate=validate.Length(min=1, max=max_length)),
        load_default=list,
        validate=validate.Length(max=max_items),
    )


class ClockTime(fields.String):
    """'HH:MM', 24-hour clock."""

    def __init__(self, **kwargs):
        super().__init__(validate=HHMM, **kwargs)


class BreakSchema(StrictSchema):
    start = ClockTime(required=True)
    end = ClockTime(required=True)
    label = text(80, load_default="Istirahat")


class OpeningSchema(StrictSchema):
    day = fields.String(required=True, validate=validate.OneOf(WEEKDAYS))
    open = ClockTime(required=True)
    close = ClockTime(required=True)
    breaks = fields.List(
        fields.Nested(BreakSchema), load_default=list, validate=validate.Length(max=6)
    )


class ClosedDateSchema(StrictSchema):
    date = fields.Date(required=True)
    label = text(120, load_default="Libur")

    @post_load
    def as_text(self, data, **kwargs):
        data["date"] = data["date"].isoformat()
        return data


class SiteSchema(StrictSchema):
    code = text(16, check=CODE)
    name = text(200)
    timezone = fields.String(required=True)
    address = text(500, required=False, load_default="")
    opening_hours = fields.List(
        fields.Nested(OpeningSchema), load_default=list, validate=validate.Length(max=21)
    )
    closed_dates = fields.List(
        fields.Nested(ClosedDateSchema), load_default=list, validate=validate.Length(max=400)
    )
    active = JsonBoolean(load_default=True)

    @validates("timezone")
    def known_timezone(self, value, **kwargs):
        # Only names from the time zone database: a lookup by arbitrary name would touch
        # the file system ("Asia" is a directory).
        if value not in TIMEZONES:
            raise ValidationError("Zona waktu tidak dikenal (misalnya Asia/Jakarta).")


class AgencySchema(StrictSchema):
    code = text(32, check=CODE)
    name = text(200)
    kind = fields.String(required=True, validate=validate.OneOf(AGENCY_KINDS))
    active = JsonBoolean(load_default=True)


class CompletionTimeSchema(StrictSchema):
    amount = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=10000))
    unit = fields.String(required=True, validate=validate.OneOf(TIME_UNITS))


class ServiceSchema(StrictSchema):
    code = text(48, check=CODE)
    site = text(16, check=CODE)
    agency = text(32, check=CODE)
    name = text(200)
    ticket_prefix = fields.String(required=True, validate=PREFIX)
    requirements = text_list(40)
    procedure = text_list(40)
    completion_time = fields.Nested(CompletionTimeSchema, required=True)
    fee = fields.Integer(
        required=True, strict=True,
        validate=validate.Range(min=0, max=10 ** 12,
                                error="Biaya harus 0 (gratis) sampai 1 triliun rupiah."),
    )
    product = text(200, required=False, load_default="")
    legal_basis = text_list(20)
    complaint_channel = text(300, required=False, load_default="")
    daily_quota = fields.Integer(
        load_default=None, allow_none=True, strict=True,
        validate=validate.Range(min=1, max=1_000_000)
    )
    target_wait_minutes = fields.Integer(
        load_default=30, strict=True, validate=validate.Range(min=1, max=1440)
    )
    typical_service_minutes = fields.Integer(
        load_default=10, strict=True, validate=validate.Range(min=1, max=1440)
    )
    active = JsonBoolean(load_default=True)


class CounterSchema(StrictSchema):
    code = text(32, check=CODE)
    site = text(16, check=CODE)
    agency = text(32, check=CODE)
    name = text(120)
    services = fields.List(
        fields.String(validate=CODE), required=True, validate=validate.Length(min=1, max=200)
    )
    zone = text(80, required=False, load_default="")
    active = JsonBoolean(load_default=True)


ENTITY_SCHEMAS = {
    "sites": SiteSchema,
    "agencies": AgencySchema,
    "services": ServiceSchema,
    "counters": CounterSchema,
}


def entity_schema(kind, partial=False):
    if not partial:
        return ENTITY_SCHEMAS[kind]()
    # An update: each top-level field is optional, but a nested object that is given
    # must be whole (partial=True would reach into it); the code cannot change.
    names = tuple(name for name in ENTITY_SCHEMAS[kind]().fields if name != "code")
    return ENTITY_SCHEMAS[kind](partial=names, exclude=("code",))


class DocumentHeaderSchema(StrictSchema):
    """A whole catalog document: ``version`` plus the lists ``sites``, ``agencies``,
    ``services`` and ``counters``, each entity loaded with its own schema."""

    version = fields.Integer(load_default=1, validate=validate.Equal(1))


class ListQuerySchema(Schema):
    """Query parameters shared by every list endpoint."""

    class Meta:
        unknown = EXCLUDE

    q = fields.String(load_default=None, validate=validate.Length(max=200))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10 ** 9))
    active = fields.Boolean(load_default=None)
    site = fields.String(load_default=None, validate=CODE)
    agency = fields.String(load_default=None, validate=CODE)
    kind = fields.String(load_default=None, validate=validate.OneOf(AGENCY_KINDS))
    service = fields.String(load_default=None, validate=CODE)
    counter = fields.String(load_default=None, validate=CODE)


FILTERS = {
    "sites": ("q", "active"),
    "agencies": ("q", "active", "kind"),
    "services": ("q", "active", "site", "agency", "counter"),
    "counters": ("q", "active", "site", "agency", "service"),
}


class ImportQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    mode = fields.String(load_default="merge", validate=validate.OneOf(("merge", "replace")))
    dry_run = fields.Boolean(load_default=False)


class ExportQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    format = fields.String(load_default="json", validate=validate.OneOf(("json", "yaml")))


def list_query(kind, params):
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


def check_kind(name, kind):
    """``kind`` when it names a collection of the catalog (``name`` is the argument's)."""
    if kind not in KINDS:
        raise InvalidInput({name: [f"Harus salah satu dari: {', '.join(KINDS)}."]})
    return kind


def check_since(since):
    """``since`` of the revocations RPC: None, or epoch seconds."""
    if since is None:
        return None
    if isinstance(since, bool) or not isinstance(since, int | float) or since < 0:
        raise InvalidInput({"since": ["Harus angka detik sejak 1970 (epoch), atau kosong."]})
    return float(since)


# -- people, devices and keys ------------------------------------------------------------

USERNAME = Pattern(r"[a-z0-9][a-z0-9._-]{2,63}",
                   error="3-64 karakter: huruf kecil, angka, titik, - atau _.")


class AccountSchema(StrictSchema):
    username = fields.String(required=True, validate=USERNAME)
    password = fields.String(required=True, load_only=True, validate=validate.Length(min=10, max=200))
    role = fields.String(required=True, validate=validate.OneOf(("admin", "agency_admin", "operator")))
    agency = fields.String(load_default=None, validate=CODE)
    counters = fields.List(fields.String(validate=CODE), load_default=list,
                           validate=validate.Length(max=50))
    name = fields.String(load_default="", validate=validate.Length(max=120))

    @validates_schema
    def scope_fits_role(self, data, **kwargs):
        if data["role"] != "admin" and not data.get("agency"):
            raise ValidationError("Wajib diisi untuk peran ini.", "agency")
        if data["role"] == "operator" and not data.get("counters"):
            raise ValidationError("Operator perlu setidaknya satu loket.", "counters")
        if data["role"] != "operator" and data.get("counters"):
            raise ValidationError("Hanya operator yang terikat ke loket.", "counters")


class LoginSchema(StrictSchema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, validate=validate.Length(min=1, max=200))


class DeviceSchema(StrictSchema):
    kind = fields.String(required=True, validate=validate.OneOf(("kiosk", "display")))
    site = fields.String(required=True, validate=CODE)
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))


class ApiKeySchema(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    agency = fields.String(load_default=None, validate=CODE)


def load(schema, raw):
    """``raw`` loaded with ``schema``; :class:`InvalidInput` with every problem otherwise."""
    try:
        return schema.load(raw)
    except ValidationError as exc:
        raise InvalidInput(flatten(exc.messages)) from None
