"""Marshmallow schemas for the reporting service's boundary."""

from marshmallow import fields, validate, validates_schema

from services.kernel.validation import CODE, Pattern, StrictSchema


def agency_field():
    """``agency``: narrow a report to one agency (an agency-bound reader's is its own)."""
    return fields.String(load_default=None, validate=CODE)


class DailyQuerySchema(StrictSchema):
    site = fields.String(load_default=None, validate=CODE)
    date = fields.Date(load_default=None)
    agency = agency_field()


class IkmQuerySchema(StrictSchema):
    site = fields.String(load_default=None, validate=CODE)
    # "from" is a Python keyword: the field is read from and written to "from".
    first = fields.Date(required=True, data_key="from")
    last = fields.Date(required=True, data_key="to")
    agency = agency_field()

    @validates_schema
    def in_order(self, data, **kwargs):
        from marshmallow import ValidationError

        if data["last"] < data["first"]:
            raise ValidationError("Harus sama dengan atau setelah 'from'.", "to")
        if (data["last"] - data["first"]).days > 366:
            raise ValidationError("Paling lama 367 hari.", "to")


class MetricsQuerySchema(StrictSchema):
    agency = agency_field()


class LimitQuerySchema(StrictSchema):
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class DeadLetterActionSchema(StrictSchema):
    letter_id = fields.String(required=True, validate=[validate.Length(min=1, max=64),
                                                       Pattern(r"[a-z0-9]+")])
    action = fields.String(required=True, validate=validate.OneOf(("requeue", "drop")))
