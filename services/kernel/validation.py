"""marshmallow, speaking Bahasa Indonesia to operators and citizens.

Importing this module sets marshmallow's default messages (required, wrong type,
unknown field, out of range, ...) in Indonesian for the whole process, and gives the
base schema every boundary uses. Field names in error paths stay as in the API.
"""

import re
import unicodedata

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from services.kernel.codes import CODE_PATTERN

fields.Field.default_error_messages.update({
    "required": "Wajib diisi.",
    "null": "Tidak boleh null.",
    "validator_failed": "Nilai tidak valid.",
})
for field_class, message in [
    (fields.String, "Harus berupa teks."),
    (fields.Integer, "Harus berupa bilangan bulat."),
    (fields.Number, "Harus berupa angka."),
    (fields.Boolean, "Harus true atau false."),
    (fields.List, "Harus berupa daftar."),
    (fields.Dict, "Harus berupa objek."),
    (fields.Date, "Harus berupa tanggal YYYY-MM-DD."),
    (fields.Url, "Harus berupa URL yang valid (http:// atau https://)."),
    (fields.DateTime, "Harus berupa waktu ISO 8601."),
]:
    field_class.default_error_messages = {**field_class.default_error_messages, "invalid": message}
fields.Nested.default_error_messages = {**fields.Nested.default_error_messages,
                                        "type": "Harus berupa objek."}
fields.Integer.default_error_messages = {**fields.Integer.default_error_messages,
                                         "too_large": "Angka terlalu besar."}
fields.String.default_error_messages = {**fields.String.default_error_messages,
                                        "invalid_utf8": "Bukan teks UTF-8 yang valid."}

validate.OneOf.default_message = "Harus salah satu dari: {choices}."
validate.Equal.default_message = "Harus {other}."
# Range formats these twice (bounds' inclusivity first), hence the doubled braces.
validate.Range.message_min = "Minimal {{min}}."
validate.Range.message_max = "Maksimal {{max}}."
validate.Range.message_all = "Harus antara {{min}} dan {{max}}."
validate.Length.message_min = "Panjang minimal {min}."
validate.Length.message_max = "Panjang maksimal {max}."
validate.Length.message_all = "Panjang harus antara {min} dan {max}."
validate.Length.message_equal = "Panjang harus {equal}."


MAX_DEPTH = 32  # how deeply a request document may nest


def check_document(value, depth=0):
    """Refuse documents no boundary should accept: nested deeper than MAX_DEPTH, or
    carrying text that is not valid Unicode (lone surrogates, which JSON escapes can
    smuggle in). Returns the problem as a message, or None."""
    if depth > MAX_DEPTH:
        return f"Dokumen bersarang terlalu dalam (lebih dari {MAX_DEPTH} tingkat)."
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "Dokumen berisi teks Unicode yang tidak valid."
        return None
    if isinstance(value, dict):
        items = [item for pair in value.items() for item in pair]
    elif isinstance(value, list):
        items = value
    else:
        return None
    for item in items:
        problem = check_document(item, depth + 1)
        if problem:
            return problem
    return None


class Pattern(validate.Validator):
    """Text that matches ``regex`` whole (``fullmatch``): the one way a boundary checks a
    format. marshmallow's ``validate.Regexp`` and ``re.match`` with ``$`` accept a
    trailing newline (``"BWI\\n"``); this never does. ``regex`` is written without
    anchors and as one unit (wrap alternatives in a group)."""

    def __init__(self, regex, error="Format tidak valid."):
        self.regex = re.compile(regex)
        self.error = error

    @property
    def json_pattern(self):
        """The same rule as a JSON Schema (ECMA-262) pattern, for the API documents,
        where ``$`` does not accept a trailing newline."""
        return f"^{self.regex.pattern}$"

    def matches(self, value):
        return isinstance(value, str) and self.regex.fullmatch(value) is not None

    def __call__(self, value):
        if not self.matches(value):
            raise ValidationError(self.error)
        return value


def has_control_character(text):
    """Whether ``text`` carries a control character (Unicode category Cc: C0, DEL, C1)."""
    return any(unicodedata.category(char) == "Cc" for char in text)


# Codes of sites, agencies, services and counters (services.kernel.codes, matched whole).
class Code(Pattern):
    """A code (services.kernel.codes: matched whole, so no trailing newline), or one of
    ``also`` (such as ``*``). How long is the field's own ``Length``'s to say."""

    def __init__(self, error="Gunakan huruf besar, angka dan '-'.", also=()):
        self.also = frozenset(also)
        others = "|".join(re.escape(other) for other in sorted(self.also))
        super().__init__(f"({others}|{CODE_PATTERN})" if others else CODE_PATTERN, error)


CODE = Code()


class JsonBoolean(fields.Boolean):
    """A boolean in a JSON (or YAML) document: ``true`` or ``false`` only, never ``0``,
    ``1`` or ``"yes"`` (a query string's ``?active=true`` is text: use ``fields.Boolean``)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):  # 1 == True in Python, so test the type
            raise self.make_error("invalid")
        return value


class StrictSchema(Schema):
    """Refuses unknown fields, in Indonesian."""

    class Meta:
        unknown = RAISE

    error_messages = {"unknown": "Field tidak dikenal.", "type": "Harus berupa objek."}


def flatten(messages, prefix=""):
    """marshmallow's nested error dict -> {'services.3.fee': [...]}."""
    flat = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            flat.update(flatten(value, path))
    elif isinstance(messages, list) and messages and all(isinstance(m, str) for m in messages):
        flat[prefix or "_schema"] = list(messages)
    elif isinstance(messages, list):
        for i, value in enumerate(messages):
            flat.update(flatten(value, f"{prefix}.{i}"))
    else:
        flat[prefix or "_schema"] = [str(messages)]
    return flat
