import pytest

from services.kernel.phone import InvalidPhone, mask, normalise


@pytest.mark.parametrize("raw", ["0812-3456-7890", "081234567890", "+62 812 3456 7890",
                                 "6281234567890", "(0812) 3456.7890"])
def test_local_and_international_forms_normalise_to_e164(raw):
    assert normalise(raw) == "+6281234567890"


@pytest.mark.parametrize("raw", ["", "12345", "0212345678", "+6581234567", "0812345",
                                 "08123456789012345", "0812abc4567", None, 812345678])
def test_anything_else_is_refused_without_echoing_it(raw):
    with pytest.raises(InvalidPhone) as caught:
        normalise(raw)
    assert str(raw) not in str(caught.value) or raw in ("",)


def test_mask_keeps_only_the_operator_prefix_and_last_digits():
    assert mask("+6281234567890") == "+62812*****890"
    assert "34567" not in mask("+6281234567890")
