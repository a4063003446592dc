"""ISO 4217 currencies (with their minor units), ISO 3166-1 alpha-2 countries, postcodes."""

import re
import unicodedata
from functools import cache

import pycountry

# ISO 4217 minor units that are not 2. Funds, precious metals and testing codes
# have no minor unit ("N.A.") and are not currencies an order can be paid in.
_MINOR_UNITS = {
    **dict.fromkeys(
        [
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ],
        0,
    ),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
    **dict.fromkeys(["CLF", "UYW"], 4),
}
_NOT_MONEY = frozenset(
    ["XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XDR", "XPD", "XPT", "XSU", "XTS", "XUA", "XXX"]
)


@cache
def currencies() -> dict[str, int]:
    """Currency code → number of decimal places."""
    return {
        c.alpha_3: _MINOR_UNITS.get(c.alpha_3, 2)
        for c in pycountry.currencies
        if c.alpha_3 not in _NOT_MONEY
    }


@cache
def countries() -> frozenset[str]:
    return frozenset(c.alpha_2 for c in pycountry.countries)


def currency_places(code: str) -> int | None:
    return currencies().get(code)


def is_country(code: str) -> bool:
    return code in countries()


# --- Postcodes --------------------------------------------------------------------
# The shape of a postcode per country, for the countries orders ship to (demo data,
# partners) and their neighbours. Matched case-insensitively after collapsing spaces;
# a country not listed here is not checked beyond "present or not".
# Sources: UPU postal addressing S42 and the national posts' own descriptions.
POSTCODE_PATTERNS: dict[str, tuple[re.Pattern[str], str]] = {
    code: (re.compile(rf"^(?:{pattern})$", re.I), example)
    for code, pattern, example in [
        ("AT", r"\d{4}", "1010"),
        ("AU", r"\d{4}", "2000"),
        ("BE", r"[1-9]\d{3}", "1000"),
        ("CA", r"[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z] ?\d[ABCEGHJ-NPRSTV-Z]\d", "K1A 0B1"),
        ("CH", r"[1-9]\d{3}", "8001"),
        ("CZ", r"\d{3} ?\d{2}", "110 00"),
        ("DE", r"\d{5}", "10115"),
        ("DK", r"\d{4}", "1050"),
        ("ES", r"(?:0[1-9]|[1-4]\d|5[0-2])\d{3}", "28013"),
        ("FI", r"\d{5}", "00100"),
        ("FR", r"\d{5}", "75001"),
        # Royal Mail: outward code (area, district) and inward code (sector, unit).
        ("GB", r"GIR ?0AA|[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}", "SW1A 1AA"),
        # Eircode: routing key and unique identifier; optional (IE has no postcode rule).
        ("IE", r"(?:[AC-FHKNPRTV-Y]\d{2}|D6W) ?[0-9AC-FHKNPRTV-Y]{4}", "D02 X285"),
        ("IT", r"\d{5}", "00184"),
        ("LU", r"(?:L-)?\d{4}", "1009"),
        ("NL", r"[1-9]\d{3} ?[A-Z]{2}", "1012 LG"),
        ("NO", r"\d{4}", "0150"),
        ("PL", r"\d{2}-\d{3}", "00-001"),
        ("PT", r"\d{4}-\d{3}", "1100-148"),
        ("SE", r"\d{3} ?\d{2}", "111 22"),
        ("US", r"\d{5}(?:-\d{4})?", "10001"),
    ]
}

# Countries whose addresses have no postcode (so a missing one is not a validation
# failure). Allocation's address check (orders.services.allocation_policy) and the
# desk's address change both use this list, so a corrected address is not held again.
NO_POSTCODE_COUNTRIES = frozenset({
    "AE", "AG", "AO", "AW", "BF", "BI", "BJ", "BS", "BW", "BZ", "CD", "CF", "CG", "CI",
    "CK", "CM", "DJ", "DM", "ER", "FJ", "GA", "GD", "GH", "GM", "GN", "GQ", "GY", "HK",
    "IE", "JM", "KI", "KM", "KN", "LC", "ML", "MO", "MR", "MS", "MW", "NR", "NU", "QA",
    "RW", "SB", "SC", "SL", "SO", "SR", "ST", "SY", "TG", "TK", "TL", "TO", "TT", "TV",
    "UG", "VU", "YE", "ZW",
})  # fmt: skip


def postcode_normalise(postcode: str) -> str:
    """Single spaces, upper case: "sw1a  1aa" → "SW1A 1AA"."""
    return " ".join(postcode.split()).upper()


def postcode_problem(*, country: str, postcode: str) -> str | None:
    """Why `postcode` is not a postcode of `country` (ISO alpha-2), or None when it fits.

    An empty postcode is a problem only where the country uses postcodes; a given one
    is checked against the country's pattern when we know it.
    """
    country = country.upper()
    postcode = postcode_normalise(postcode)
    if not postcode:
        if country in NO_POSTCODE_COUNTRIES or not country:
            return None
        return f"A postcode is required for {country}."
    known = POSTCODE_PATTERNS.get(country)
    if known is None:
        return None
    pattern, example = known
    if pattern.match(postcode):
        return None
    return f"Not a postcode of {country_name(country)} (for example {example})."


@cache
def country_choices() -> list[tuple[str, str]]:
    """(code, "Name (CODE)") for every ISO 3166-1 country, sorted by name."""
    return sorted(
        ((c.alpha_2, f"{_short_name(c)} ({c.alpha_2})") for c in pycountry.countries),
        key=lambda choice: unicodedata.normalize("NFKD", choice[1]).casefold(),
    )


def country_name(code: str) -> str:
    country = pycountry.countries.get(alpha_2=code.upper()) if len(code) == 2 else None
    return _short_name(country) if country is not None else code


def _short_name(country) -> str:
    # "Netherlands, Kingdom of the" and "Korea, Republic of" read badly in a select.
    return getattr(country, "common_name", None) or country.name
