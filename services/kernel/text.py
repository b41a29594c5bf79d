"""Text normalisation for case- and accent-insensitive search."""

import re
import unicodedata


def fold(text):
    """Lower-case, strip accents and collapse white space: 'Pérekaman  KTP' -> 'perekaman ktp'."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split())


def search_filter(field, query):
    """A Mongo filter matching documents whose folded ``field`` contains every query word."""
    words = fold(query).split()
    if not words:
        return {}
    return {"$and": [{field: {"$regex": re.escape(word)}} for word in words]}
