"""What the display board says when a ticket is called: plain text, no I/O.

The text is spoken by the browser's own speech synthesis (no cloud TTS), so it is written
the way it must be *read*: a ticket "A-017" becomes "A nol satu tujuh": letters of the
prefix separated by spaces so the engine spells them, and the queue number read digit by
digit, as queue numbers are read aloud in Indonesia. The counter's number is read as a
number ("loket dua belas").

English follows British usage: "and" after hundreds and before a final part under one
hundred ("one hundred and five", "one thousand and one", "one thousand two hundred and
thirty-four"), hyphens between tens and units ("twenty-one"), no commas.
"""

import re

LANGUAGES = ("id", "en")
MAX_NUMBER = 999_999

_ID_UNITS = ("nol", "satu", "dua", "tiga", "empat", "lima", "enam", "tujuh", "delapan", "sembilan")
_EN_UNITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
             "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
             "seventeen", "eighteen", "nineteen")
_EN_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")

_DIGIT_WORDS = {"id": _ID_UNITS, "en": _EN_UNITS[:10]}
_SEPARATORS = frozenset("-_./ ")


def _check_number(n):
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"Expected an integer, got {n!r}.")
    if not 0 <= n <= MAX_NUMBER:
        raise ValueError(f"{n} is outside 0..{MAX_NUMBER}.")


def _check_lang(lang):
    if lang not in LANGUAGES:
        raise ValueError(f"Unsupported language {lang!r}; expected one of {', '.join(LANGUAGES)}.")


# -- Indonesian ------------------------------------------------------------------------

def _id_below_thousand(n):
    """1..999; "se-" replaces "satu" before belas, puluh, ratus."""
    parts = []
    hundreds, rest = divmod(n, 100)
    if hundreds:
        parts.append("seratus" if hundreds == 1 else f"{_ID_UNITS[hundreds]} ratus")
    if rest >= 20:
        tens, units = divmod(rest, 10)
        parts.append(f"{_ID_UNITS[tens]} puluh")
        if units:
            parts.append(_ID_UNITS[units])
    elif rest >= 12:
        parts.append(f"{_ID_UNITS[rest - 10]} belas")
    elif rest == 11:
        parts.append("sebelas")
    elif rest == 10:
        parts.append("sepuluh")
    elif rest:
        parts.append(_ID_UNITS[rest])
    return " ".join(parts)


def number_words_id(n):
    """Indonesian words for 0..999,999: 1234 -> "seribu dua ratus tiga puluh empat"."""
    _check_number(n)
    if n == 0:
        return "nol"
    thousands, rest = divmod(n, 1000)
    parts = []
    if thousands == 1:
        parts.append("seribu")
    elif thousands:
        parts.append(f"{_id_below_thousand(thousands)} ribu")
    if rest:
        parts.append(_id_below_thousand(rest))
    return " ".join(parts)


# -- English (British) -------------------------------------------------------------------

def _en_below_hundred(n):
    if n < 20:
        return _EN_UNITS[n]
    tens, units = divmod(n, 10)
    return _EN_TENS[tens] + (f"-{_EN_UNITS[units]}" if units else "")


def _en_below_thousand(n):
    """1..999: "one hundred and five"."""
    hundreds, rest = divmod(n, 100)
    if not hundreds:
        return _en_below_hundred(rest)
    head = f"{_EN_UNITS[hundreds]} hundred"
    return f"{head} and {_en_below_hundred(rest)}" if rest else head


def number_words_en(n):
    """British English words for 0..999,999: 1001 -> "one thousand and one"."""
    _check_number(n)
    if n == 0:
        return "zero"
    thousands, rest = divmod(n, 1000)
    if not thousands:
        return _en_below_thousand(rest)
    head = f"{_en_below_thousand(thousands)} thousand"
    if not rest:
        return head
    joiner = " and " if rest < 100 else " "
    return head + joiner + _en_below_thousand(rest)


NUMBER_WORDS = {"id": number_words_id, "en": number_words_en}


# -- Tickets and counters ---------------------------------------------------------------

def _spell(ticket_number, lang):
    """Letters upper-cased and spaced, digits as words; separators ("-", " ", ...) dropped."""
    if not isinstance(ticket_number, str):
        raise TypeError(f"Expected a ticket number string, got {ticket_number!r}.")
    words = []
    for char in ticket_number.strip():
        if char in "0123456789":
            words.append(_DIGIT_WORDS[lang][int(char)])
        elif char.isalpha():
            words.append(char.upper())
        elif char not in _SEPARATORS:
            raise ValueError(f"Unexpected character {char!r} in ticket number {ticket_number!r}.")
    if not words:
        raise ValueError(f"Empty ticket number {ticket_number!r}.")
    return " ".join(words)


def spell_ticket_id(ticket_number):
    """"A-017" -> "A nol satu tujuh"; "DA-017" -> "D A nol satu tujuh"; "D2-005" -> "D dua nol nol lima"."""
    return _spell(ticket_number, "id")


def spell_ticket_en(ticket_number):
    """"A-017" -> "A zero one seven"."""
    return _spell(ticket_number, "en")


SPELL_TICKET = {"id": spell_ticket_id, "en": spell_ticket_en}

_FIRST_INTEGER = re.compile(r"[0-9]+")
_TRAILING_INTEGER = re.compile(r"([0-9]+)$")


def counter_number(counter_code, counter_name):
    """The counter's number to read aloud, or None.

    The first integer in its name ("Loket 12 Disdukcapil" -> 12), else the trailing integer
    of its code ("BWI-L05" -> 5), else None ("Loket Informasi", "BWI-INFO").
    """
    found = _FIRST_INTEGER.search(counter_name or "")
    if found is None:
        found = _TRAILING_INTEGER.search((counter_code or "").strip())
    return int(found.group(0)) if found else None


_PHRASES = {
    "id": {"ticket": "Nomor antrean {ticket}, silakan menuju {counter}.",
           "counter": "loket {words}", "recall": "Panggilan ulang. "},
    "en": {"ticket": "Ticket number {ticket}, please proceed to {counter}.",
           "counter": "counter {words}", "recall": "Second call. "},
}


def counter_words(counter_code, counter_name, lang="id"):
    """How the counter is said: "loket lima" / "counter five", else its name as it is."""
    _check_lang(lang)
    number = counter_number(counter_code, counter_name)
    if number is not None and number <= MAX_NUMBER:
        return _PHRASES[lang]["counter"].format(words=NUMBER_WORDS[lang](number))
    spoken = (counter_name or "").strip() or (counter_code or "").strip()
    if not spoken:
        raise ValueError("A counter needs a code or a name to be announced.")
    return spoken


def announcement(ticket_number, counter_code, counter_name, lang="id", *, recall=False):
    """The sentence the display board speaks.

    >>> announcement("A-017", "BWI-L05", "Loket 5")
    'Nomor antrean A nol satu tujuh, silakan menuju loket lima.'
    >>> announcement("A-017", "BWI-L05", "Loket 5", "en", recall=True)
    'Second call. Ticket number A zero one seven, please proceed to counter five.'
    """
    _check_lang(lang)
    phrases = _PHRASES[lang]
    text = phrases["ticket"].format(ticket=SPELL_TICKET[lang](ticket_number),
                                    counter=counter_words(counter_code, counter_name, lang))
    return (phrases["recall"] + text) if recall else text


def announcements(ticket_number, counter_code, counter_name, *, recall=False):
    """The sentence in every language, as the display event's ``text`` field: {"id": ..., "en": ...}."""
    return {lang: announcement(ticket_number, counter_code, counter_name, lang, recall=recall)
            for lang in LANGUAGES}
