"""ISO 4217 currencies (with their minor units) and ISO 3166-1 alpha-2 countries."""

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
