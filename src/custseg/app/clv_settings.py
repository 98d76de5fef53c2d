"""The sidebar's lifetime-value settings (horizon, months, discount rate, on or off), as the
CLI's ``--horizon-days``, ``--clv-months``, ``--discount-rate`` and ``--no-clv`` give them."""

from __future__ import annotations

import streamlit as st

from custseg import forecast
from custseg.app.sidebar import _keep
from custseg.config import CLVConfig

_DEFAULT = CLVConfig()


def clv_settings() -> CLVConfig:
    """The lifetime-value settings chosen in the sidebar."""
    with st.sidebar.expander("Lifetime value"):
        enabled = st.checkbox("Estimate lifetime value", key=_keep("clv_enabled", True),
                              help="BG/NBD and Gamma-Gamma, checked on a held-out part of "
                                   "the period (the Future value page)")
        horizon = st.number_input("Expected purchases over the next (days)", min_value=1,
                                  max_value=3650, step=30,
                                  key=_keep("clv_horizon", _DEFAULT.horizon_days))
        months = st.number_input("Lifetime value over the next (months)", min_value=1,
                                 max_value=120, step=1, key=_keep("clv_months", _DEFAULT.months))
        discount = st.number_input("Monthly discount rate", min_value=0.0, max_value=0.5,
                                   step=0.005, format="%.3f",
                                   key=_keep("clv_discount", _DEFAULT.discount_rate))
    return forecast.settings(_DEFAULT, enabled=bool(enabled), horizon_days=int(horizon),
                             months=int(months), discount_rate=float(discount))
