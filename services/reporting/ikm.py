"""Community satisfaction index (IKM, from the SKM survey) per Permenpan RB 14/2017.

Pure functions: no I/O, standard library only.

Each respondent scores nine elements (unsur) ``u1`` .. ``u9`` on a 1-4 scale. For every
element the average score is its NRR (nilai rata-rata): sum of scores / respondents. Each
element weighs exactly 1/9, so the weighted NRR is NRR / 9, and

    IKM = sum(weighted NRR) x 25          (range 25.00 - 100.00)

Arithmetic is exact (``fractions.Fraction``); the figures are rounded only for output, half
up: NRR and weighted NRR to 4 decimals, IKM to 2 decimals. The grade (mutu pelayanan) is
read from the IKM *rounded to 2 decimals*, as published:

    A  Sangat Baik   88.31 - 100.00
    B  Baik          76.61 -  88.30
    C  Kurang Baik   65.00 -  76.60
    D  Tidak Baik    25.00 -  64.99

An element's own grade is read from its unrounded NRR: A from 3.5324, B from 3.0644, C from
2.60, D below. (The older 14-indicator scheme of KEP/25/2004 is a different thing.)
"""

from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from numbers import Rational

ELEMENTS = ("u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8", "u9")

ELEMENT_NAMES = {
    "u1": "Persyaratan",
    "u2": "Sistem, Mekanisme, dan Prosedur",
    "u3": "Waktu Penyelesaian",
    "u4": "Biaya/Tarif",
    "u5": "Produk Spesifikasi Jenis Pelayanan",
    "u6": "Kompetensi Pelaksana",
    "u7": "Perilaku Pelaksana",
    "u8": "Penanganan Pengaduan, Saran dan Masukan",
    "u9": "Sarana dan Prasarana",
}

MIN_SCORE, MAX_SCORE = 1, 4
WEIGHT = Fraction(1, len(ELEMENTS))  # exactly 1/9, never 0.111
SCALE = 25  # turns the weighted 1-4 average into 25-100

GRADE_LABELS = {"A": "Sangat Baik", "B": "Baik", "C": "Kurang Baik", "D": "Tidak Baik"}

# Lowest value of each grade, best first; anything below the last is D.
IKM_THRESHOLDS = (("A", Decimal("88.31")), ("B", Decimal("76.61")), ("C", Decimal("65.00")))
NRR_THRESHOLDS = (("A", Fraction("3.5324")), ("B", Fraction("3.0644")), ("C", Fraction("2.60")))

CSV_COLUMNS = ("scope", "code", "respondents", "ikm", "grade", "grade_label",
               *(f"nrr_{element}" for element in ELEMENTS))

EMPTY_RESULT = {"respondents": 0, "nrr": None, "nrr_weighted": None, "ikm": None, "grade": None,
                "grade_label": None, "element_grades": None}


def _exact(value):
    """``value`` as an exact Fraction; a float is taken at its shortest decimal spelling."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | Rational):
        raise TypeError(f"expected a number, got {value!r}")
    if isinstance(value, float):
        return Fraction(repr(value))
    return Fraction(value)


def _round(value, places):
    """Round half up to ``places`` decimals; returns a Decimal."""
    value = _exact(value)
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def grade_for(ikm):
    """Grade letter of an IKM value; it is first rounded (half up) to 2 decimals."""
    rounded = _round(ikm, 2)
    for grade, lowest in IKM_THRESHOLDS:
        if rounded >= lowest:
            return grade
    return "D"


def element_grade_for(nrr):
    """Grade letter of one element's NRR (1-4 scale), compared unrounded."""
    value = _exact(nrr)
    for grade, lowest in NRR_THRESHOLDS:
        if value >= lowest:
            return grade
    return "D"


def _check(where, scores):
    """The nine scores of one respondent, validated; ``where`` names it in errors."""
    if not isinstance(scores, Mapping):
        raise ValueError(f"{where}: expected a mapping of u1..u9 scores, got {type(scores).__name__}")
    checked = []
    for element in ELEMENTS:
        if element not in scores:
            raise ValueError(f"{where}, {element}: score is missing")
        score = scores[element]
        if isinstance(score, bool) or not isinstance(score, int):
            raise ValueError(f"{where}, {element}: score must be an integer 1-4, got {score!r}")
        if not MIN_SCORE <= score <= MAX_SCORE:
            raise ValueError(f"{where}, {element}: score must be 1-4, got {score!r}")
        checked.append(score)
    return checked


def _compute(checked):
    """The index of already validated score lists."""
    respondents = len(checked)
    if not respondents:
        return dict(EMPTY_RESULT)
    sums = [sum(column) for column in zip(*checked, strict=True)]
    nrr = {element: Fraction(total, respondents) for element, total in zip(ELEMENTS, sums, strict=True)}
    weighted = {element: value * WEIGHT for element, value in nrr.items()}
    ikm = _round(sum(weighted.values()) * SCALE, 2)
    grade = grade_for(ikm)
    return {
        "respondents": respondents,
        "nrr": {element: float(_round(value, 4)) for element, value in nrr.items()},
        "nrr_weighted": {element: float(_round(value, 4)) for element, value in weighted.items()},
        "ikm": float(ikm),
        "grade": grade,
        "grade_label": GRADE_LABELS[grade],
        "element_grades": {element: element_grade_for(value) for element, value in nrr.items()},
    }


def index(responses):
    """IKM of survey responses: an iterable of ``{"u1": 1-4, ..., "u9": 1-4}``.

    Returns ``{"respondents", "nrr", "nrr_weighted", "ikm", "grade", "grade_label",
    "element_grades"}``; with no respondents every field but ``respondents`` (0) is None.
    Extra keys in a response are ignored. A missing element, or a score that is not an
    int (bools included) in 1-4, raises ValueError naming the respondent's 0-based position
    and the element.
    """
    if isinstance(responses, Mapping) or not isinstance(responses, Iterable):
        raise ValueError("responses must be an iterable of score mappings")
    return _compute([_check(f"respondent {i}", scores) for i, scores in enumerate(responses)])


def by_group(records, key):
    """``{group value: index(...)}`` of records grouped by their field ``key``.

    A record is ``{"scores": {"u1": ..., ...}, "site": ..., "agency": ..., "service": ...}``.
    Groups are ordered by value. A record without ``key`` (or with it None), or with invalid
    scores, raises ValueError naming the record's 0-based position.
    """
    groups = {}
    for i, record in enumerate(records):
        where = f"record {i}"
        if not isinstance(record, Mapping):
            raise ValueError(f"{where}: expected a mapping, got {type(record).__name__}")
        if record.get(key) is None:
            raise ValueError(f"{where}: has no {key!r}")
        if "scores" not in record:
            raise ValueError(f"{where}: has no 'scores'")
        groups.setdefault(record[key], []).append(_check(where, record["scores"]))
    return {group: _compute(groups[group]) for group in sorted(groups)}


def csv_rows(scope, name, result):
    """One CSV row, as a list of values in ``CSV_COLUMNS`` order, for an ``index`` result.

    ``scope`` says what was grouped ("site", "agency", "service", ...) and ``name`` is the
    group's code. IKM is written with 2 decimals and NRR with 4 (as strings, so 65.00 does
    not come out as 65.0); None becomes "".
    """
    nrr = result.get("nrr") or {}
    ikm = result.get("ikm")
    values = [
        scope,
        name,
        result.get("respondents", 0),
        "" if ikm is None else f"{ikm:.2f}",
        result.get("grade"),
        result.get("grade_label"),
        *("" if nrr.get(element) is None else f"{nrr[element]:.4f}" for element in ELEMENTS),
    ]
    return ["" if value is None else value for value in values]
