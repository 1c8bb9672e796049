"""Money: exact decimal amounts rounded to a currency's minor unit, half to even.

Amounts are `decimal.Decimal`, never float. Each amount a statement shows is rounded
once, to the currency's minor unit (ISO 4217 exponent: 2 for EUR and USD, 0 for JPY,
3 for KWD), with ROUND_HALF_EVEN (banker's rounding: a tie goes to the even digit, so
ties do not all drift the same way over many lines). A currency not listed here is
taken with 2 decimals, the common case. Arithmetic runs in a local context of 34
significant digits, so a product of quantity and price is exact before it is rounded.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext

# ISO 4217 minor-unit exponents of the currencies whose exponent is not 2 (and a few common 2s, for reference).
MINOR_UNIT_EXPONENTS: dict[str, int] = {
    "EUR": 2, "USD": 2, "GBP": 2, "CHF": 2, "SEK": 2, "NOK": 2, "DKK": 2, "PLN": 2, "CZK": 2,
    "JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "VND": 0,
    "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3, "LYD": 3, "IQD": 3,
}
DEFAULT_EXPONENT = 2
ZERO = Decimal(0)
HUNDRED = Decimal(100)
_EXACT = Context(prec=34)


def minor_unit(currency: str) -> Decimal:
    """The smallest amount of `currency` a statement shows, e.g. Decimal('0.01') for EUR, Decimal('1') for JPY."""
    return Decimal(1).scaleb(-MINOR_UNIT_EXPONENTS.get(currency.upper(), DEFAULT_EXPONENT))


def round_money(amount: Decimal, currency: str) -> Decimal:
    """`amount` rounded half to even to the minor unit of `currency`."""
    with localcontext(_EXACT):
        return amount.quantize(minor_unit(currency), rounding=ROUND_HALF_EVEN)


def times(quantity: Decimal, price: Decimal, currency: str) -> Decimal:
    """quantity x price, computed exactly and then rounded once to the currency's minor unit."""
    with localcontext(_EXACT):
        return round_money(quantity * price, currency)


def percent_of(amount: Decimal, pct: Decimal, currency: str) -> Decimal:
    """`pct` percent of `amount`, rounded once to the currency's minor unit (a tax, an SLA credit)."""
    with localcontext(_EXACT):
        return round_money(amount * pct / HUNDRED, currency)


def money_text(amount: Decimal, currency: str) -> str:
    """The amount as the statement shows it: fixed point with the currency's decimals, e.g. '1234.50'."""
    return f"{round_money(amount, currency):f}"
