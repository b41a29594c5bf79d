"""Indonesian mobile numbers: validated, normalised, masked. Pure functions.

A number is personal data (UU 27/2022): callers keep it out of events, logs, URLs
and API answers, and show only :func:`mask`.
"""

import re

# After normalising to +62: mobile numbers start with 8 and have 9 to 12 more digits.
MOBILE = re.compile(r"\+628\d{7,11}")  # matched whole (fullmatch)


class InvalidPhone(ValueError):
    """Not an Indonesian mobile number; the message never repeats the number."""


def normalise(raw):
    """'0812-3456-7890', '62812...', '+62 812 ...' -> '+6281234567890'."""
    if not isinstance(raw, str):
        raise InvalidPhone("Nomor telepon harus berupa teks.")
    digits = re.sub(r"[\s\-().]", "", raw)
    if digits.startswith("+"):
        number = digits
    elif digits.startswith("62"):
        number = "+" + digits
    elif digits.startswith("0"):
        number = "+62" + digits[1:]
    else:
        number = "+62" + digits
    if not MOBILE.fullmatch(number):
        raise InvalidPhone("Nomor ponsel tidak valid; gunakan nomor seluler Indonesia, "
                           "misalnya 0812-3456-7890.")
    return number


def mask(number):
    """'+6281234567890' -> '+62812*****890' (country code, operator prefix, last 3)."""
    return number[:6] + "*" * (len(number) - 9) + number[-3:]
