"""IKM (Permenpan RB 14/2017): expected figures are worked out by hand, not recomputed."""

import pytest

from services.reporting.ikm import (
    CSV_COLUMNS,
    ELEMENT_NAMES,
    ELEMENTS,
    by_group,
    csv_rows,
    element_grade_for,
    grade_for,
    index,
)

U = ELEMENTS


def respondent(*scores):
    return dict(zip(U, scores, strict=True))


def uniform(score, n=1):
    return [respondent(*[score] * 9) for _ in range(n)]


def with_total(n, total):
    """``n`` respondents whose 9n scores add up to ``total`` (filled with 4s, then the rest)."""
    assert 9 * n <= total <= 36 * n
    cells, extra = [1] * (9 * n), total - 9 * n
    for i in range(len(cells)):
        step = min(3, extra)
        cells[i] += step
        extra -= step
    return [respondent(*cells[9 * r:9 * r + 9]) for r in range(n)]


# Four respondents, scores per element (u1..u9):
#          u1 u2 u3 u4 u5 u6 u7 u8 u9
HAND = [respondent(4, 4, 3, 4, 3, 3, 4, 3, 4),
        respondent(3, 4, 3, 4, 3, 4, 4, 2, 3),
        respondent(4, 3, 2, 4, 3, 3, 4, 3, 4),
        respondent(3, 3, 3, 4, 4, 3, 4, 2, 3)]
# Sums:    14 14 11 16 13 13 16 10 14   (total 121)


def test_hand_worked_example():
    result = index(HAND)
    assert result["respondents"] == 4
    # NRR = sum / 4: 14/4 = 3.5, 11/4 = 2.75, 16/4 = 4.0, 13/4 = 3.25, 10/4 = 2.5
    assert result["nrr"] == {"u1": 3.5, "u2": 3.5, "u3": 2.75, "u4": 4.0, "u5": 3.25,
                             "u6": 3.25, "u7": 4.0, "u8": 2.5, "u9": 3.5}
    # Weighted NRR = NRR / 9: 3.5/9 = 0.38888.. -> 0.3889; 2.75/9 = 0.30555.. -> 0.3056;
    # 4/9 = 0.44444.. -> 0.4444; 3.25/9 = 0.36111.. -> 0.3611; 2.5/9 = 0.27777.. -> 0.2778
    assert result["nrr_weighted"] == {"u1": 0.3889, "u2": 0.3889, "u3": 0.3056, "u4": 0.4444,
                                      "u5": 0.3611, "u6": 0.3611, "u7": 0.4444, "u8": 0.2778,
                                      "u9": 0.3889}
    # Sum of weighted NRR = (121/4) / 9 = 30.25 / 9 = 3.36111..; x 25 = 84.02777.. -> 84.03
    # 76.61 <= 84.03 <= 88.30 -> B, Baik
    assert result["ikm"] == 84.03
    assert result["grade"] == "B"
    assert result["grade_label"] == "Baik"
    # Elements: 4.0 >= 3.5324 A; 3.5 and 3.25 in [3.0644, 3.5324) B; 2.75 in [2.60, 3.0644) C;
    # 2.5 < 2.60 D
    assert result["element_grades"] == {"u1": "B", "u2": "B", "u3": "C", "u4": "A", "u5": "B",
                                        "u6": "B", "u7": "A", "u8": "D", "u9": "B"}


def test_ikm_is_computed_from_unrounded_nrr():
    # Three respondents with element sums 3, 11, 11, 12, 12, 8, 10, 12, 3 (total 82).
    responses = [respondent(1, 4, 4, 4, 4, 3, 4, 4, 1),
                 respondent(1, 4, 4, 4, 4, 3, 3, 4, 1),
                 respondent(1, 3, 3, 4, 4, 2, 3, 4, 1)]
    result = index(responses)
    # Exact: 82/3 / 9 x 25 = 2050/27 = 75.9259.. -> 75.93.
    # Summing the weighted NRRs as rounded to 4 decimals would give
    # 0.1111 + 0.4074 + 0.4074 + 0.4444 + 0.4444 + 0.2963 + 0.3704 + 0.4444 + 0.1111 = 3.0369,
    # x 25 = 75.9225 -> 75.92: wrong.
    assert result["nrr_weighted"] == {"u1": 0.1111, "u2": 0.4074, "u3": 0.4074, "u4": 0.4444,
                                      "u5": 0.4444, "u6": 0.2963, "u7": 0.3704, "u8": 0.4444,
                                      "u9": 0.1111}
    assert result["ikm"] == 75.93
    assert result["grade"] == "C"


def test_all_fours_is_100_a_and_all_ones_is_25_d():
    best = index(uniform(4, 3))
    # With a weight of 0.111 instead of 1/9 this would be 4 x 0.999 x 25 = 99.90.
    assert (best["ikm"], best["grade"], best["grade_label"]) == (100.0, "A", "Sangat Baik")
    assert best["nrr_weighted"]["u1"] == 0.4444
    assert set(best["element_grades"].values()) == {"A"}
    worst = index(uniform(1, 2))
    assert (worst["ikm"], worst["grade"], worst["grade_label"]) == (25.0, "D", "Tidak Baik")
    assert worst["nrr"]["u9"] == 1.0
    assert set(worst["element_grades"].values()) == {"D"}


@pytest.mark.parametrize("n, total, ikm, grade", [
    # IKM = total / n / 9 x 25 = 25 x total / (9n), then rounded to 2 decimals.
    (24, 763, 88.31, "A"),  # 19075/216 = 88.3101..
    (43, 1367, 88.31, "A"),  # 34175/387 = 88.3074.. : below 88.31 unrounded, graded rounded
    (19, 604, 88.30, "B"),  # 15100/171 = 88.3040..
    (33, 1049, 88.30, "B"),  # 26225/297 = 88.2996..
    (19, 524, 76.61, "B"),  # 13100/171 = 76.6081..
    (33, 910, 76.60, "C"),  # 22750/297 = 76.5993..
    (5, 117, 65.00, "C"),  # 2925/45 = 65 exactly
    (38, 889, 64.99, "D"),  # 22225/342 = 64.9853..
])
def test_grade_boundaries_with_real_responses(n, total, ikm, grade):
    result = index(with_total(n, total))
    assert (result["respondents"], result["ikm"], result["grade"]) == (n, ikm, grade)


def test_ikm_rounds_half_up():
    # 8 respondents, total 189: 25 x 189 / 72 = 65.625 exactly -> 65.63 (round() would give 65.62).
    assert index(with_total(8, 189))["ikm"] == 65.63


@pytest.mark.parametrize("ikm, grade", [
    (100, "A"), (88.31, "A"), (88.30, "B"), (76.61, "B"), (76.60, "C"), (65.00, "C"), (64.99, "D"),
    (25, "D"),
    (88.305, "A"), (88.3049, "B"),  # rounded to 2 decimals first, half up
])
def test_grade_for(ikm, grade):
    assert grade_for(ikm) == grade


@pytest.mark.parametrize("nrr, grade", [
    (4, "A"), (3.5324, "A"), (3.5323, "B"), (3.0644, "B"), (3.0643, "C"), (2.60, "C"),
    (2.5999, "D"), (1, "D"),
])
def test_element_grade_for(nrr, grade):
    assert element_grade_for(nrr) == grade


def test_element_grade_uses_the_unrounded_nrr():
    # 139 respondents, u1: 74 fours and 65 threes = 296 + 195 = 491; 491/139 = 3.53237.. shows as
    # 3.5324 but is below 3.5324, so B. Every other element is all 4s.
    responses = [respondent(4 if r < 74 else 3, *[4] * 8) for r in range(139)]
    result = index(responses)
    assert result["nrr"]["u1"] == 3.5324
    assert result["element_grades"]["u1"] == "B"
    assert result["element_grades"]["u2"] == "A"


def test_zero_respondents():
    assert index([]) == {"respondents": 0, "nrr": None, "nrr_weighted": None, "ikm": None,
                         "grade": None, "grade_label": None, "element_grades": None}
    assert index(iter(()))["respondents"] == 0


def test_accepts_any_iterable_and_ignores_extra_keys():
    responses = ({**r, "ticket": "A-001"} for r in HAND)
    assert index(responses)["ikm"] == 84.03


@pytest.mark.parametrize("bad", [0, 5, "3", True, 3.0, None])
def test_invalid_scores_name_respondent_and_element(bad):
    responses = [respondent(*[3] * 9), {**respondent(*[3] * 9), "u4": bad}]
    with pytest.raises(ValueError, match=r"respondent 1, u4"):
        index(responses)


def test_missing_element_is_named():
    incomplete = respondent(*[3] * 9)
    del incomplete["u9"]
    with pytest.raises(ValueError, match=r"respondent 2, u9: score is missing"):
        index([*uniform(4, 2), incomplete])


def test_names_of_the_nine_elements():
    assert U == ("u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8", "u9")
    assert list(ELEMENT_NAMES) == list(U)
    assert ELEMENT_NAMES["u2"] == "Sistem, Mekanisme, dan Prosedur"
    assert ELEMENT_NAMES["u8"] == "Penanganan Pengaduan, Saran dan Masukan"


RECORDS = [
    {"site": "BWI", "agency": "POLRI", "service": "SKCK", "scores": respondent(*[1] * 9)},
    {"site": "BWI", "agency": "DISDUKCAPIL", "service": "KTP-EL", "scores": HAND[0]},
    {"site": "BWI", "agency": "DISDUKCAPIL", "service": "KK", "scores": HAND[1]},
    {"site": "BWI", "agency": "DISDUKCAPIL", "service": "KTP-EL", "scores": HAND[2]},
    {"site": "BWI", "agency": "DISDUKCAPIL", "service": "KK", "scores": HAND[3]},
    {"site": "JBR", "agency": "BPJS", "service": "JKN", "scores": respondent(*[4] * 9)},
]


def test_by_group_orders_groups_and_indexes_each():
    agencies = by_group(RECORDS, "agency")
    assert list(agencies) == ["BPJS", "DISDUKCAPIL", "POLRI"]
    assert agencies["BPJS"]["ikm"] == 100.0
    assert agencies["DISDUKCAPIL"] == index(HAND)  # the hand-worked example: 84.03 B
    assert (agencies["POLRI"]["ikm"], agencies["POLRI"]["grade"]) == (25.0, "D")

    sites = by_group(RECORDS, "site")
    assert list(sites) == ["BWI", "JBR"]
    # BWI: 5 respondents, total 9 (all 1s) + 121 (HAND) = 130; 25 x 130 / 45 = 72.2222.. -> 72.22 C
    assert (sites["BWI"]["respondents"], sites["BWI"]["ikm"], sites["BWI"]["grade"]) == (5, 72.22, "C")

    services = by_group(RECORDS, "service")
    assert list(services) == ["JKN", "KK", "KTP-EL", "SKCK"]
    # KTP-EL: HAND[0] + HAND[2], element sums 8 7 5 8 6 6 8 6 8 = 62; 25 x 62 / 18 = 86.1111.. -> 86.11
    assert services["KTP-EL"]["ikm"] == 86.11
    assert services["KTP-EL"]["nrr"]["u3"] == 2.5


def test_by_group_of_nothing_and_bad_records():
    assert by_group([], "site") == {}
    with pytest.raises(ValueError, match=r"record 1: has no 'service'"):
        by_group([RECORDS[0], {"site": "BWI", "scores": HAND[0]}], "service")
    with pytest.raises(ValueError, match=r"record 1, u1"):
        by_group([RECORDS[0], {"site": "BWI", "scores": {**HAND[0], "u1": 7}}], "site")


def test_csv_rows():
    assert CSV_COLUMNS == ("scope", "code", "respondents", "ikm", "grade", "grade_label",
                           "nrr_u1", "nrr_u2", "nrr_u3", "nrr_u4", "nrr_u5", "nrr_u6", "nrr_u7",
                           "nrr_u8", "nrr_u9")
    row = csv_rows("agency", "DISDUKCAPIL", index(HAND))
    assert row == ["agency", "DISDUKCAPIL", 4, "84.03", "B", "Baik",
                   "3.5000", "3.5000", "2.7500", "4.0000", "3.2500", "3.2500", "4.0000", "2.5000",
                   "3.5000"]
    assert len(row) == len(CSV_COLUMNS)
    assert csv_rows("site", "BWI", index(uniform(1)))[3] == "25.00"
    assert csv_rows("service", "KK", index([])) == ["service", "KK", 0, "", "", "", *[""] * 9]
