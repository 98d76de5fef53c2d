"""Money as text in the configured currency.

The currency is a setting (:attr:`custseg.config.Config.currency`), empty unless the user
gives one or a known export is recognised, so every text, chart and table writes money
through these helpers and never spells a symbol itself:

- a symbol (``£``, ``$``, ``€``, ``¥``, or any text that is not all letters, e.g. ``US$``)
  goes right before the number: ``£1,234``;
- a code made of letters (``EUR``, ``CHF``) is followed by a space: ``EUR 1,234``;
- no currency (``""``) leaves the number bare: ``1,234``.

A minus sign goes before the currency: ``-£1,234``, never ``£-1,234``. Formats that are
filled in by another program (a printf format for a Streamlit column, a plotly tick prefix or
hover template) cannot put the sign first: where an amount can be negative, show the text of
:func:`money` / :func:`money_texts` / :func:`formatter` instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd


def prefix(currency: str | None) -> str:
    """What is written before an amount: ``"£"``, ``"EUR "`` or ``""``."""
    text = (currency or "").strip()
    if not text:
        return ""
    return text + " " if text.isalpha() else text


def money(value: float, currency: str | None = "", digits: int = 0) -> str:
    """One amount as text: ``money(-1234.5, "£")`` → ``"-£1,235"``.

    Parameters
    ----------
    value:
        The amount.
    currency:
        Symbol or code (see the module docstring); empty or None for none.
    digits:
        Decimals shown.
    """
    value = float(value)
    number = f"{abs(value):,.{digits}f}"
    # No "-£0" for a small negative amount that rounds to nothing.
    sign = "-" if value < 0 and number.strip("0.,") else ""
    return f"{sign}{prefix(currency)}{number}"


def money_texts(values: pd.Series, currency: str | None = "", digits: int = 0) -> pd.Series:
    """:func:`money` of every value of a Series (vectorised string operations), same index."""
    numbers = values.abs().map(f"{{:,.{digits}f}}".format)
    negative = (values < 0).to_numpy() & numbers.str.strip("0.,").ne("").to_numpy()
    sign = pd.Series(np.where(negative, "-", ""), index=values.index)
    return sign + prefix(currency) + numbers


def formatter(currency: str | None = "", digits: int = 2) -> Callable[[Any], str]:
    """A function writing one amount as :func:`money` does, and a missing one as ``""``: for
    a pandas ``Styler.format`` or ``Series.map``, where a negative amount must read
    ``-£77,183.60``."""

    def write(value: Any) -> str:
        if value is None or pd.isna(value):
            return ""
        return money(value, currency, digits)

    return write


def label(text: str, currency: str | None = "") -> str:
    """A column or axis title with its currency: ``"revenue (£)"``, or ``"revenue"``."""
    shown = (currency or "").strip()
    return f"{text} ({shown})" if shown else text


def hover(placeholder: str, currency: str | None = "") -> str:
    """A plotly hover-template amount with its currency: ``hover("%{x:,.0f}", "£")`` →
    ``"£%{x:,.0f}"``."""
    return prefix(currency) + placeholder


def axis(currency: str | None = "") -> dict[str, str]:
    """Plotly axis settings that show amounts with the currency and thousands separators."""
    return {"tickprefix": prefix(currency), "tickformat": ",.0f"}


def number_format(currency: str | None = "", digits: int = 2) -> str:
    """A printf-style format for a Streamlit ``NumberColumn``: ``"£%,.2f"``, ``"%,.2f"``.

    printf writes a negative amount as ``£-5.00``: use it for columns that cannot be negative,
    and :func:`formatter` for the others.
    """
    # A literal % in the currency would start a printf directive.
    return prefix(currency).replace("%", "%%") + f"%,.{digits}f"


def currency_of(result: Any) -> str:
    """The currency a run's money is written in: its summary's (the currency the run
    resolved), else its setting's, else none. ``result`` is a :class:`custseg.Result` or any
    object with ``summary``/``config`` attributes."""
    summary = getattr(result, "summary", None) or {}
    config = getattr(result, "config", None)
    return str(summary.get("currency") or getattr(config, "currency", None) or "")
