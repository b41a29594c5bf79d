"""Marshmallow schemas for the notify service's boundary."""

from marshmallow import EXCLUDE, Schema, fields, validate

from services.kernel.validation import Code, Pattern, StrictSchema

AGENCY_OR_ALL = Code(error="Kode instansi, atau * untuk semua instansi.", also=("*",))


class WebhookSchema(StrictSchema):
    agency = fields.String(required=True, validate=[validate.Length(max=32), AGENCY_OR_ALL])
    url = fields.Url(required=True, schemes={"http", "https"}, require_tld=False,
                     validate=validate.Length(max=2000))
    secret = fields.String(load_default=None, validate=validate.Length(min=16, max=200))
    event_types = fields.List(
        fields.String(validate=[validate.Length(min=1, max=100), Pattern(
            r"[a-z0-9_.*?]+", error="Jenis event, boleh dengan * (misalnya antre.ticket.*).")]),
        load_default=lambda: ["*"], validate=validate.Length(min=1, max=50))


class DeliveryQuerySchema(StrictSchema):
    status = fields.String(load_default=None,
                           validate=validate.OneOf(("pending", "sent", "dead")))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class RecentQuerySchema(StrictSchema):
    limit = fields.Integer(load_default=10, validate=validate.Range(min=1, max=100))


class StreamQuerySchema(StrictSchema):
    after = fields.Integer(load_default=None, validate=validate.Range(min=0))


class DisplayQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE  # a board's URL may carry cache-busters and the like

    lang = fields.String(load_default="id", validate=validate.OneOf(("id", "en")))


class WebhookListQuerySchema(StrictSchema):
    agency = fields.String(load_default=None, validate=AGENCY_OR_ALL)
