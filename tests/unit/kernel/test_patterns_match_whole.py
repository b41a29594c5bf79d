"""Every format check at a boundary matches the whole value: ``"X\\n"`` never passes
for ``"X"``. marshmallow's ``validate.Regexp`` (``re.match``) and a ``$`` anchor both
accept a trailing newline; services.kernel.validation.Pattern (``fullmatch``) does not.

The schemas of every service are walked: each validator that checks a pattern gets
values its pattern matches, and must refuse each of them with a newline after it.
"""

import importlib
import pkgutil
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import Schema, ValidationError, fields, validate

import services


def schema_modules():
    for info in pkgutil.iter_modules(services.__path__):
        if info.ispkg:
            try:
                yield importlib.import_module(f"services.{info.name}.schemas")
            except ModuleNotFoundError:
                continue


def field_validators(field, where):
    for validator in field.validators:
        yield where, validator
    if isinstance(field, fields.Nested) and isinstance(field.schema, Schema):
        yield from schema_validators(field.schema, where)
    elif isinstance(field, fields.List):
        yield from field_validators(field.inner, f"{where}[]")
    elif isinstance(field, fields.Dict):
        for part in ("key_field", "value_field"):
            if getattr(field, part, None) is not None:
                yield from field_validators(getattr(field, part), f"{where}.<{part}>")


def schema_validators(schema, where):
    for name, field in schema.fields.items():
        yield from field_validators(field, f"{where}.{name}")


def pattern_validators():
    """``(where, validator, its regex)`` for every validator with a regex, once each."""
    found = {}
    for module in schema_modules():
        for name, value in vars(module).items():
            if isinstance(value, type) and issubclass(value, Schema) and value is not Schema \
                    and value.__module__ == module.__name__:
                for where, validator in schema_validators(value(), f"{module.__name__}.{name}"):
                    regex = getattr(validator, "regex", None)
                    if isinstance(regex, re.Pattern):
                        found.setdefault(id(validator), (where, validator, regex))
    return list(found.values())


PATTERNS = pattern_validators()


def test_the_walk_finds_the_pattern_checks():
    """Codes, ticket prefixes, clock times, user names, event types, dead-letter ids."""
    wheres = " ".join(where for where, _, _ in PATTERNS)
    assert len(PATTERNS) >= 6, wheres
    for expected in ("ticket_prefix", "username", "start", "event_types", "letter_id", "code"):
        assert expected in wheres, wheres


def test_no_schema_uses_marshmallows_regexp():
    """services.kernel.validation.Pattern instead: validate.Regexp uses ``re.match``."""
    assert [where for where, validator, _ in PATTERNS if isinstance(validator, validate.Regexp)] == []


@pytest.mark.parametrize(("where", "validator", "regex"), PATTERNS, ids=[p[0] for p in PATTERNS])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(data=st.data())
def test_a_value_the_pattern_accepts_is_refused_with_a_newline_after_it(where, validator, regex,
                                                                       data):
    value = data.draw(st.from_regex(regex, fullmatch=True).filter(lambda v: not v.endswith("\n")),
                      label="value")
    validator(value)  # accepted
    for suffix in ("\n", "\r\n", "\n\n"):
        with pytest.raises(ValidationError):
            validator(value + suffix)
