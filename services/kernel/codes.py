"""The one pattern of Antre's codes (sites, agencies, services, counters): capitals,
digits and '-', starting with a capital or a digit. Matched whole (``fullmatch``), so
``"BWI\\n"`` is not a code: ``$`` in a ``re.match`` pattern accepts a trailing newline.
"""

import re

CODE_PATTERN = r"[A-Z0-9][A-Z0-9-]*"
MAX_CODE_LENGTH = 48  # the longest a catalog schema allows (a service's code)
_CODE = re.compile(CODE_PATTERN)


def is_code(value, max_length=MAX_CODE_LENGTH):
    """Whether ``value`` is a string that is a code, whole, of at most ``max_length``."""
    return isinstance(value, str) and len(value) <= max_length \
        and _CODE.fullmatch(value) is not None
