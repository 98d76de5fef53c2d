"""The custseg dashboard (Streamlit entry point): the page navigation.

Run it with ``custseg app`` (or ``streamlit run src/custseg/app/main.py``).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from custseg.app import ui

PAGES = Path(__file__).parent / "views"

# An emoji icon is drawn in the page itself; a ":material/…:" page icon would be fetched
# from an outside font host, and the dashboard makes no outside requests (it works offline).
# The sidebar starts collapsed on a small screen ("auto"); on a phone Streamlit also closes
# it after a page is chosen.
st.set_page_config(page_title="custseg — customer segments", page_icon="📊",
                   layout="wide", initial_sidebar_state="auto")


def _page(name: str, title: str, icon: str, default: bool = False) -> st.Page:
    return st.Page(PAGES / f"{name}.py", title=title, icon=f":material/{icon}:",
                   default=default, url_path=name)


NAVIGATION = {
    "Results": [_page("overview", "Overview", "dashboard", default=True)],
    "The analysis, step by step": [
        _page("data", "1 · Data", "table"),
        _page("cleaning", "2 · Cleaning", "cleaning_services"),
        _page("rfm", "3 · RFM", "person_search"),
        _page("choosing_k", "4 · Choosing k", "tune"),
        _page("segments", "5 · Segments", "groups"),
        _page("explanation", "6 · Explanation", "lightbulb"),
        _page("anomalies", "7 · Anomalies", "warning"),
        _page("future_value", "8 · Future value", "trending_up"),
    ],
    "Tools": [_page("changes", "Changes over time", "timeline"),
              _page("lookup", "Customer look-up", "search"),
              _page("downloads", "Downloads", "download")],
}


nav = st.navigation(NAVIGATION)
# The sidebar is built here, in the entry point, so its widgets (and the uploaded file) keep
# their values on every page; pages fall back to building it when run on their own.
ui.setup()
nav.run()
