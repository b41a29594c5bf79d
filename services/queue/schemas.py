"""Marshmallow schemas for what crosses the queue service's boundary."""

from marshmallow import (
    EXCLUDE,
    Schema,
    ValidationError,
    fields,
    validate,
    validates,
    validates_schema,
)

from services.kernel.phone import InvalidPhone, normalise
from services.kernel.validation import CODE, Pattern, StrictSchema
from services.queue import messages
from services.queue.domain import APPOINTMENT_CHANNEL, CHANNELS, IKM_ELEMENTS, PRIORITY_GROUPS


class IssueTicketSchema(StrictSchema):
    """An issue over HTTP (``POST /api/queue/tickets``): kiosks, operators, admins and
    the web. No appointment: that is :class:`RpcIssueTicketSchema`'s, the booking
    service's, so the ``appointment`` channel (which needs one) is refused here."""

    site = fields.String(load_default=None, validate=[validate.Length(max=16), CODE])
    service = fields.String(required=True, validate=[validate.Length(min=1, max=48), CODE])
    channel = fields.String(load_default="kiosk", validate=validate.OneOf(CHANNELS))
    priority = fields.String(load_default=None, allow_none=True,
                             validate=validate.OneOf(PRIORITY_GROUPS))
    # Opt-in messages: the number goes to the notify service only, never into a ticket,
    # an event or a log; it is checked before the ticket is issued.
    phone = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=32))
    lang = fields.String(load_default="id", validate=validate.OneOf(("id", "en")))

    @validates("phone")
    def indonesian_mobile(self, value, **kwargs):
        if value is not None:
            try:
                normalise(value)
            except InvalidPhone as exc:
                raise ValidationError(str(exc)) from None

    @validates_schema
    def appointment_with_its_channel(self, data, **kwargs):
        if (data.get("channel") == APPOINTMENT_CHANNEL) != (data.get("appointment") is not None):
            raise ValidationError({"appointment": [messages.APPOINTMENT_CHANNEL]})


class AppointmentSchema(StrictSchema):
    """A booked slot: the booking's code (not personal data) and the slot's start."""
    booking = fields.String(required=True, validate=Pattern(
        "[A-Z0-9]{4,16}", error="Kode booking: 4-16 huruf besar atau angka."))
    slot_start = fields.AwareDateTime(required=True, format="iso", error_messages={
        "invalid": "Waktu ISO 8601 dengan zona waktu (2026-11-23T10:00:00+07:00).",
        "invalid_awareness": "Waktu ISO 8601 dengan zona waktu (2026-11-23T10:00:00+07:00)."})


class RpcIssueTicketSchema(IssueTicketSchema):
    """The RPC ``issue_ticket``: also the booking service's check-in, which issues a
    ticket of channel ``appointment`` with the booked slot."""
    appointment = fields.Nested(AppointmentSchema, load_default=None, allow_none=True)


MAX_POSITIONS = 500  # tickets asked about at once


class PositionsSchema(StrictSchema):
    """Which waiting tickets' positions another service asks for, in one call."""
    ticket_ids = fields.List(fields.String(validate=validate.Length(min=1, max=64)),
                             required=True, validate=validate.Length(max=MAX_POSITIONS))


class CounterActionSchema(StrictSchema):
    """Staff actions on a ticket name the counter they act from."""

    counter = fields.String(required=True, validate=[validate.Length(min=1, max=32), CODE])


class TransferSchema(CounterActionSchema):
    service = fields.String(required=True, validate=[validate.Length(min=1, max=48), CODE])


class CancelSchema(StrictSchema):
    reason = fields.String(load_default=None, validate=validate.Length(max=200))


class PauseSchema(StrictSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=200))


class FeedbackSchema(StrictSchema):
    scores = fields.Dict(required=True, keys=fields.String(validate=validate.OneOf(IKM_ELEMENTS)),
                         values=fields.Integer(strict=True, validate=validate.Range(min=1, max=4)))
    comment = fields.String(load_default=None, validate=validate.Length(max=1000))

    @validates_schema
    def all_nine_elements(self, data, **kwargs):
        missing = [k for k in IKM_ELEMENTS if k not in data.get("scores", {})]
        if missing:
            raise ValidationError({"scores": {k: ["Nilai 1-4 wajib diisi."] for k in missing}})


class QrSchema(StrictSchema):
    text = fields.String(required=True, validate=validate.Length(min=1, max=512))


class OverviewQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    site = fields.String(load_default=None, validate=CODE)


class CounterWaitingQuerySchema(StrictSchema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class TicketListQuerySchema(StrictSchema):
    site = fields.String(load_default=None, validate=CODE)
    service = fields.String(load_default=None, validate=CODE)
    counter = fields.String(load_default=None, validate=CODE)
    status = fields.String(load_default=None, validate=validate.OneOf(
        ("waiting", "called", "serving", "completed", "no_show", "cancelled", "transferred")))
    day = fields.Date(load_default=None)
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10 ** 9))
