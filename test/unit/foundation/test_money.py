"""Exact decimal parsing and plain wire formatting."""

from decimal import Decimal

import pytest

from apps.oms.domain.money import DecimalFormatError, parse_decimal, quantize, to_plain


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", Decimal(1)),
        ("0.000000000000000001", Decimal("1E-18")),
        ("123456789.123456789012345678", Decimal("123456789.123456789012345678")),
        (5, Decimal(5)),
        ("2.50", Decimal("2.50")),
        ("1.000000000000000000", Decimal("1")),  # 18 fractional digits: the limit
        ("999999999999999999", Decimal("999999999999999999")),
        ("1e-05", Decimal("0.00001")),  # Python's str(0.00001)
        ("-3.5", Decimal("-3.5")),
        (Decimal("0.5"), Decimal("0.5")),  # a JSON number parsed with parse_float=Decimal
    ],
)
def test_parse_decimal_accepts_exact_values(text: str | int, expected: Decimal) -> None:
    assert parse_decimal(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "NaN", "Infinity", "-inf", "abc", "", "0.0000000000000000001", "1" * 19, "1" * 40, "1e30",
        # issue 13: Python's Decimal() is too lenient for the wire
        "1_0", "\uff10.\uff10\uff10\uff11", " 0.001 ", "0.001 ", "\t1", "+1", "1,5", "0x10",
        "1.0000000000000000000",  # 19 fractional digits, even zeros
        "1" * 22 + "." + "0" * 18,  # 40 digits
        "0." + "0" * 39 + "1",
        "\u0661",  # Arabic-Indic digit one
    ],
)  # fmt: skip
def test_parse_decimal_refuses(text: str) -> None:
    with pytest.raises(DecimalFormatError):
        parse_decimal(text)


@pytest.mark.parametrize(
    "value", [Decimal("1.0000000000000000000"), Decimal("NaN"), Decimal("1E+30"), True]
)
def test_parse_decimal_refuses_numbers(value: object) -> None:
    with pytest.raises(DecimalFormatError):
        parse_decimal(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "plain"),
    [
        (Decimal("1E-18"), "0.000000000000000001"),
        (Decimal("123.450000000000000000"), "123.45"),
        (Decimal("1E+3"), "1000"),
        (Decimal("0E-18"), "0"),
        (Decimal("-5.10"), "-5.1"),
    ],
)
def test_to_plain_has_no_exponent_and_no_trailing_zeros(value: Decimal, plain: str) -> None:
    assert to_plain(value) == plain


def test_quantize_is_half_even_at_18_places() -> None:
    assert quantize(Decimal("0.0000000000000000005")) == Decimal("0")
    assert quantize(Decimal("0.0000000000000000015")) == Decimal("0.000000000000000002")
    assert to_plain(Decimal("100")) == "100"
    assert to_plain(Decimal("-0E-18")) == "0"
