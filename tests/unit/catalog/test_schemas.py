"""What the catalog's documents accept: JSON's own booleans for ``active``."""

import pytest
from marshmallow import ValidationError

from services.catalog.domain import KINDS
from services.catalog.schemas import ListQuerySchema, entity_schema


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("value", [0, 1, "true", "no", ""])
def test_active_is_true_or_false_never_a_number_or_a_word(kind, value):
    with pytest.raises(ValidationError) as refused:
        entity_schema(kind, partial=True).load({"active": value})
    assert refused.value.messages == {"active": ["Harus true atau false."]}


@pytest.mark.parametrize("kind", KINDS)
def test_active_true_and_false_are_taken(kind):
    schema = entity_schema(kind, partial=True)
    assert schema.load({"active": False}) == {"active": False}
    assert schema.load({"active": True}) == {"active": True}


def test_a_list_filter_reads_active_from_the_query_string():
    schema = ListQuerySchema(only=("active",))
    assert schema.load({"active": "false"}) == {"active": False}
    assert schema.load({"active": "true"}) == {"active": True}
