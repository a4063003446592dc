"""Postcode shapes per country (orders/iso.py), used by the desk's address form and service."""

import pytest

from orders.iso import (
    POSTCODE_PATTERNS,
    country_choices,
    postcode_problem,
)


@pytest.mark.parametrize(
    ("country", "good", "bad"),
    [
        ("FR", ["75001", "13008"], ["ABCDEFG", "7500", "750011"]),
        ("DE", ["10115", "01067"], ["1011", "D-10115"]),
        (
            "GB",
            ["SW1A 1AA", "sw1a1aa", "M1 1AE", "B33 8TH", "CR2 6XH", "GIR 0AA"],
            ["12345", "SW1A"],
        ),
        ("US", ["10001", "94105-1234"], ["1000", "94105-12", "ABCDE"]),
        ("NL", ["1012 LG", "1012lg"], ["0123 AB", "1012", "1012 L"]),
        ("BE", ["1000", "9000"], ["0999", "10000"]),
        ("ES", ["28013", "08001", "52001"], ["53001", "00123", "2801"]),
        ("IT", ["00184", "20121"], ["0018", "I-00184"]),
        ("SE", ["111 22", "11122"], ["1112", "111 222"]),
        ("PL", ["00-001", "31-042"], ["00001", "0-0001"]),
        ("IE", ["D02 X285", "A65F4E2", "D6W 1234"], ["D02", "123 4567"]),
    ],
)
def test_postcode_shapes_of_the_countries_we_ship_to(country, good, bad):
    assert POSTCODE_PATTERNS[country]
    for postcode in good:
        assert postcode_problem(country=country, postcode=postcode) is None, postcode
    for postcode in bad:
        assert postcode_problem(country=country, postcode=postcode), postcode


def test_missing_postcode_is_a_problem_only_where_the_country_uses_postcodes():
    assert postcode_problem(country="FR", postcode="  ") == "A postcode is required for FR."
    assert postcode_problem(country="IE", postcode="") is None
    assert postcode_problem(country="AE", postcode="") is None
    assert postcode_problem(country="HK", postcode="") is None


def test_a_country_without_a_known_shape_takes_any_postcode():
    assert postcode_problem(country="JP", postcode="100-0001") is None


def test_allocation_holds_for_a_missing_postcode_exactly_where_the_desk_requires_one():
    from orders.services.allocation_policy import address_problems
    from tests.orders.factories import OrderFactory

    for country in ("FR", "IE", "AE", "NL"):
        order = OrderFactory.build(shipping_country=country, shipping_postcode="")
        held = any("postcode" in problem for problem in address_problems(order))
        assert held == (postcode_problem(country=country, postcode="") is not None), country


def test_country_choices_have_names_and_codes():
    choices = dict(country_choices())
    assert choices["FR"] == "France (FR)"
    assert choices["GB"] == "United Kingdom (GB)"
    assert len(choices) == 249
