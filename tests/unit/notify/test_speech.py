"""The display board's announcement text: numbers, tickets and counters read aloud."""

import doctest

import pytest

from services.notify import speech
from services.notify.speech import (
    LANGUAGES,
    announcement,
    announcements,
    counter_number,
    number_words_en,
    number_words_id,
    spell_ticket_en,
    spell_ticket_id,
)

INDONESIAN = {
    0: "nol",
    1: "satu",
    7: "tujuh",
    8: "delapan",
    9: "sembilan",
    10: "sepuluh",
    11: "sebelas",
    12: "dua belas",
    19: "sembilan belas",
    20: "dua puluh",
    21: "dua puluh satu",
    99: "sembilan puluh sembilan",
    100: "seratus",
    101: "seratus satu",
    110: "seratus sepuluh",
    111: "seratus sebelas",
    199: "seratus sembilan puluh sembilan",
    200: "dua ratus",
    999: "sembilan ratus sembilan puluh sembilan",
    1000: "seribu",
    1001: "seribu satu",
    1100: "seribu seratus",
    1234: "seribu dua ratus tiga puluh empat",
    2000: "dua ribu",
    10000: "sepuluh ribu",
    11000: "sebelas ribu",
    21000: "dua puluh satu ribu",
    100000: "seratus ribu",
    101000: "seratus satu ribu",
    999999: "sembilan ratus sembilan puluh sembilan ribu sembilan ratus sembilan puluh sembilan",
}

ENGLISH = {
    0: "zero",
    1: "one",
    10: "ten",
    11: "eleven",
    12: "twelve",
    19: "nineteen",
    20: "twenty",
    21: "twenty-one",
    99: "ninety-nine",
    100: "one hundred",
    101: "one hundred and one",
    105: "one hundred and five",
    110: "one hundred and ten",
    111: "one hundred and eleven",
    199: "one hundred and ninety-nine",
    200: "two hundred",
    999: "nine hundred and ninety-nine",
    1000: "one thousand",
    1001: "one thousand and one",
    1100: "one thousand one hundred",
    1234: "one thousand two hundred and thirty-four",
    2000: "two thousand",
    10000: "ten thousand",
    11000: "eleven thousand",
    100000: "one hundred thousand",
    101000: "one hundred and one thousand",
    999999: "nine hundred and ninety-nine thousand nine hundred and ninety-nine",
}


@pytest.mark.parametrize(("n", "words"), sorted(INDONESIAN.items()))
def test_indonesian_numbers(n, words):
    assert number_words_id(n) == words


@pytest.mark.parametrize(("n", "words"), sorted(ENGLISH.items()))
def test_english_numbers_british_style(n, words):
    assert number_words_en(n) == words


@pytest.mark.parametrize("words", [number_words_id, number_words_en])
def test_every_number_in_range_has_words_without_stray_spaces(words):
    for n in range(0, 1_000_000, 997):
        text = words(n)
        assert text and text == text.strip() and "  " not in text


@pytest.mark.parametrize("words", [number_words_id, number_words_en])
@pytest.mark.parametrize("n", [-1, 1_000_000, 10**9])
def test_numbers_out_of_range_are_refused(words, n):
    with pytest.raises(ValueError):
        words(n)


@pytest.mark.parametrize("words", [number_words_id, number_words_en])
@pytest.mark.parametrize("n", [1.0, "5", None, True])
def test_non_integers_are_refused(words, n):
    with pytest.raises(TypeError):
        words(n)


@pytest.mark.parametrize(("ticket", "spoken"), [
    ("A-017", "A nol satu tujuh"),
    ("DA-017", "D A nol satu tujuh"),
    ("D2-005", "D dua nol nol lima"),
    ("B-100", "B satu nol nol"),
    ("A-1234", "A satu dua tiga empat"),
    ("a-017", "A nol satu tujuh"),
    (" AB 008 ", "A B nol nol delapan"),
])
def test_ticket_read_letter_by_letter_and_digit_by_digit_in_indonesian(ticket, spoken):
    assert spell_ticket_id(ticket) == spoken


@pytest.mark.parametrize(("ticket", "spoken"), [
    ("A-017", "A zero one seven"),
    ("DA-017", "D A zero one seven"),
    ("D2-005", "D two zero zero five"),
])
def test_ticket_read_in_english(ticket, spoken):
    assert spell_ticket_en(ticket) == spoken


@pytest.mark.parametrize("ticket", ["", "  ", "-", "A-01?", "A<script>"])
def test_tickets_that_cannot_be_read_are_refused(ticket):
    with pytest.raises(ValueError):
        spell_ticket_id(ticket)


def test_ticket_must_be_text():
    with pytest.raises(TypeError):
        spell_ticket_id(17)


@pytest.mark.parametrize(("code", "name", "number"), [
    ("BWI-L05", "Loket 5", 5),
    ("BWI-L99", "Loket 12 Disdukcapil", 12),      # the name wins over the code
    ("BWI-L01", "Loket 1 Disdukcapil", 1),
    ("BWI-L05", "Loket Informasi", 5),            # no number in the name: the code's
    ("BWI-L05", None, 5),
    ("BWI-INFO", "Loket Informasi", None),
    ("BWI-L05A", "Loket Prioritas", None),        # the code's integer is not trailing
    ("", "", None),
    (None, None, None),
])
def test_counter_number(code, name, number):
    assert counter_number(code, name) == number


def test_the_issue_example_word_for_word():
    assert announcement("A-017", "BWI-L05", "Loket 5") == \
        "Nomor antrean A nol satu tujuh, silakan menuju loket lima."


def test_counter_number_read_as_a_number_not_digit_by_digit():
    assert announcement("DA-017", "BWI-L12", "Loket 12 Disdukcapil") == \
        "Nomor antrean D A nol satu tujuh, silakan menuju loket dua belas."


def test_english():
    assert announcement("A-017", "BWI-L05", "Loket 5", lang="en") == \
        "Ticket number A zero one seven, please proceed to counter five."


def test_recall_in_both_languages():
    assert announcement("A-017", "BWI-L05", "Loket 5", recall=True) == \
        "Panggilan ulang. Nomor antrean A nol satu tujuh, silakan menuju loket lima."
    assert announcement("A-017", "BWI-L05", "Loket 5", "en", recall=True) == \
        "Second call. Ticket number A zero one seven, please proceed to counter five."


def test_counter_without_a_number_is_named_as_it_is():
    assert announcement("C-003", "BWI-INFO", "Loket Informasi") == \
        "Nomor antrean C nol nol tiga, silakan menuju Loket Informasi."
    assert announcement("C-003", "BWI-INFO", "Loket Informasi", "en") == \
        "Ticket number C zero zero three, please proceed to Loket Informasi."


def test_counter_without_a_name_falls_back_to_its_code():
    assert announcement("C-003", "BWI-INFO", None) == \
        "Nomor antrean C nol nol tiga, silakan menuju BWI-INFO."
    assert announcement("C-003", "BWI-L07", "") == \
        "Nomor antrean C nol nol tiga, silakan menuju loket tujuh."


def test_counter_number_too_large_to_read_falls_back_to_the_name():
    assert announcement("A-001", "X", "Loket 1000000") == \
        "Nomor antrean A nol nol satu, silakan menuju Loket 1000000."


def test_counter_with_neither_code_nor_name_is_refused():
    with pytest.raises(ValueError):
        announcement("A-017", "", "  ")


@pytest.mark.parametrize("lang", ["ID", "jv", "en-GB", "", None])
def test_other_languages_are_refused(lang):
    with pytest.raises(ValueError):
        announcement("A-017", "BWI-L05", "Loket 5", lang)


def test_announcements_give_every_language_for_the_display_event():
    assert LANGUAGES == ("id", "en")
    assert announcements("A-017", "BWI-L05", "Loket 5") == {
        "id": "Nomor antrean A nol satu tujuh, silakan menuju loket lima.",
        "en": "Ticket number A zero one seven, please proceed to counter five.",
    }
    assert announcements("A-017", "BWI-L05", "Loket 5", recall=True)["id"].startswith("Panggilan ulang. ")


def test_docstring_examples():
    result = doctest.testmod(speech)
    assert result.attempted >= 2 and result.failed == 0
