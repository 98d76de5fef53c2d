"""Charts (custseg.charts) and the HTML report (custseg.report), on hand-built frames.

The report is tested by what it shows: the figures are parsed back out of report.html and their
traces, titles and numbers compared with values computed here from the input frames.
"""

from __future__ import annotations

import base64
import html
import json
import re
import types

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from plotly.offline import get_plotlyjs

from custseg import charts, report
from custseg.rfm import GRID_SEGMENTS

SEGMENTS = ("Champions", "At risk", "New <b>customers</b>")
EVIL = "<script>alert('x')</script>"


def _rfm(n: int = 90, seed: int = 3, outliers: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "customer_id": [f"{10000 + i}" for i in range(n)],
        "recency": rng.integers(1, 365, n),
        "frequency": np.ceil(rng.lognormal(0.8, 1.0, n)).astype(int),
        "monetary": np.round(rng.lognormal(6.5, 1.3, n), 2),
    })
    frame["segment"] = [SEGMENTS[i % 3] for i in range(n)]
    frame["cluster"] = [i % 3 for i in range(n)]
    frame["anomaly_score"] = rng.random(n)
    top = frame["anomaly_score"].nlargest(outliers).index
    frame["is_anomaly"] = frame.index.isin(top)
    frame["anomaly_reason"] = np.where(frame["is_anomaly"], "monetary far above " + EVIL, "")
    # Grid segments out of the grid's order, two of them unused.
    frame["rfm_segment"] = [GRID_SEGMENTS[(5 * i) % 9] for i in range(n)]
    return frame


def _segments(rfm: pd.DataFrame) -> pd.DataFrame:
    grouped = rfm.groupby("segment", sort=False)
    table = grouped.agg(customers=("customer_id", "size"), revenue=("monetary", "sum"),
                        recency_median=("recency", "median"),
                        frequency_median=("frequency", "median"),
                        monetary_median=("monetary", "median")).reset_index()
    table["customer_share"] = table["customers"] / table["customers"].sum()
    table["revenue_share"] = table["revenue"] / table["revenue"].sum()
    table["opportunity"] = "grow"
    table["action"] = "Send a <i>voucher</i>"
    return table


def _k_table() -> pd.DataFrame:
    ks = np.arange(2, 8)
    table = pd.DataFrame({"k": ks, "inertia": 1000.0 / ks, "silhouette": 0.6 - ks / 50,
                          "calinski_harabasz": 900.0 - ks * 10, "davies_bouldin": 0.5 + ks / 20,
                          "min_share": 0.3 / ks, "stability": 1 - ks / 40})
    table["eligible"] = table["min_share"] >= 0.05
    table["chosen"] = table["k"] == 3
    return table


def _pca(rfm: pd.DataFrame):
    x = np.log1p(rfm[["recency", "frequency", "monetary"]].to_numpy(float))
    x = (x - x.mean(0)) / x.std(0)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    scores = x @ vt[:2].T
    pca = pd.DataFrame({"customer_id": rfm["customer_id"], "pc1": scores[:, 0],
                        "pc2": scores[:, 1]})
    loadings = pd.DataFrame(vt[:2].T, index=["recency", "frequency", "monetary"],
                            columns=["pc1", "pc2"])
    explained = tuple(s[:2] ** 2 / (s ** 2).sum())
    return pca, explained, loadings


def _flagged(per_kind: dict[str, int]) -> pd.DataFrame:
    rows = []
    for kind, count in per_kind.items():
        for i in range(count):
            rows.append({"row_id": len(rows), "invoice": f"{500000 + len(rows)}",
                         "stock_code": "85123A", "description": EVIL if i == 0 else "MUG",
                         "quantity": 1000.0 + i, "invoice_date": pd.Timestamp("2011-05-01"),
                         "unit_price": 2.5, "amount": 2500.0 + i, "customer_id": "17850",
                         "country": "United Kingdom", "kind": kind,
                         "reason": f"{kind} far from usual", "score": float(i)})
    return pd.DataFrame(rows)


def _cleaning():
    return types.SimpleNamespace(rows_in=10_000, rows_kept=7_250, customers_kept=90,
                                 revenue_kept=123456.78,
                                 dropped={"missing_customer": 2000, "cancellation": 500,
                                          "country": 250},
                                 skipped={}, rules={"cancellation": "Invoices starting with C"})


@pytest.fixture()
def result():
    rfm = _rfm()
    pca, explained, loadings = _pca(rfm)
    clustering = types.SimpleNamespace(k=3, k_table=_k_table(), reason="k = 3: best <silhouette>",
                                       pca=pca, pca_explained=explained, pca_loadings=loadings)
    explanation = types.SimpleNamespace(
        accuracy=0.91, macro_f1=0.88, fidelity=0.84,
        importances=pd.DataFrame({"feature": ["recency", "frequency", "monetary"],
                                  "impurity": [0.5, 0.3, 0.2], "permutation": [0.3, 0.2, 0.1]}),
        rules=pd.DataFrame({"segment": ["Champions"], "rule": ["frequency > 4"],
                            "customers": [30], "precision": [0.9]}),
        rules_markdown="- Champions: frequency > 4")
    return types.SimpleNamespace(
        config=types.SimpleNamespace(seed=42, currency="£"),
        source=types.SimpleNamespace(path="data/<retail>.xlsx", format="excel",
                                     mapping={"invoice": "InvoiceNo"}),
        cleaning=_cleaning(), rfm=rfm, clustering=clustering, segments=_segments(rfm),
        explanation=explanation,
        customer_anomalies=types.SimpleNamespace(scores=rfm["anomaly_score"],
                                                 detector="isolation_forest",
                                                 second_detector="lof", agreement=0.6,
                                                 n_flagged=int(rfm["is_anomaly"].sum())),
        flagged_transactions=_flagged({"price": 3, "quantity": 250}),
        summary={}, summary_markdown="## Key points\n\n- **3** segments\n- raw <b>tag</b>",
        timings={"RFM": 0.25})


K_PANELS = ("inertia", "silhouette", "calinski_harabasz", "davies_bouldin", "min_share",
            "stability")
PROFILE_PANELS = ("recency", "frequency", "monetary", "shares")


def _all_figures(res) -> dict[str, charts.Figure]:
    c = res.clustering
    figs = {
        **{f"k_{name}": fig for name, fig in zip(K_PANELS, charts.k_metric_panels(c.k_table),
                                                 strict=True)},
        "pca_scatter": charts.pca_scatter(c.pca, res.rfm, c.pca_explained, c.pca_loadings),
        **{f"profile_{name}": fig for name, fig in zip(
            PROFILE_PANELS, charts.segment_profile_panels(res.segments), strict=True)},
        **{f"distribution_{var}": fig for var, fig in zip(
            ("recency", "frequency", "monetary"), charts.rfm_distribution_panels(res.rfm),
            strict=True)},
        "importances_bar": charts.importances_bar(res.explanation.importances),
        "cleaning_waterfall": charts.cleaning_waterfall(res.cleaning),
        "flagged_kinds": charts.flagged_kinds(res.flagged_transactions),
        "flagged_kinds_empty": charts.flagged_kinds(res.flagged_transactions.iloc[:0]),
    }
    for x, y in charts.ANOMALY_VIEWS:
        figs[f"anomaly_{x}_{y}"] = charts.anomaly_scatter(res.rfm, x, y)
    mix, priorities = _product_tables(res.segments["segment"].astype(str).tolist())
    figs["product_mix_bar"] = charts.product_mix_bar(mix, res.segments["segment"].iloc[0])
    figs["stock_priorities_bar"] = charts.stock_priorities_bar(priorities)
    figs["rfm_grid_bar"] = charts.rfm_grid_bar(res.rfm)
    return figs


def _product_tables(names: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A product mix (two products per segment) and stock priorities, as custseg.products
    returns them."""
    mix = pd.DataFrame({
        "segment": np.repeat(names, 2), "stock_code": ["A1", "B2"] * len(names),
        "description": ["MUG", "JUG <b>"] * len(names), "revenue": [300.0, 200.0] * len(names),
        "customers": [10, 7] * len(names), "segment_share": [0.6, 0.4] * len(names),
        "overall_share": [0.5, 0.5] * len(names), "lift": [1.2, 0.8] * len(names),
        "rank_revenue": [1, 2] * len(names), "rank_customers": [1, 2] * len(names)})
    priorities = pd.DataFrame({
        "rank": [1, 2], "stock_code": ["A1", "B2"], "description": ["MUG", None],
        "revenue": [900.0, 600.0], "share": [0.6, 0.4], "customers": [30, 21],
        "first_half": [400.0, 350.0], "second_half": [500.0, 250.0], "trend": [0.25, -0.29],
        "trend_label": ["rising", "falling"]})
    return mix, priorities


def _traces(fig: charts.Figure, name: str | None = None) -> list[dict]:
    return [t for t in fig["data"] if name is None or t.get("name") == name]


# --------------------------------------------------------------------------- charts


def test_every_chart_has_a_title_and_titled_axes(result):
    figs = _all_figures(result)
    assert len(figs) == 24
    for name, fig in figs.items():
        assert isinstance(fig, dict), name
        layout = fig["layout"]
        assert layout["title"]["text"], name
        axes = [k for k in layout if re.fullmatch(r"[xy]axis\d*", k)]
        assert {"xaxis", "yaxis"} <= set(axes), name
        for axis in axes:
            assert layout[axis].get("title", {}).get("text"), f"{name}.{axis} has no title"


def test_every_chart_is_a_valid_plotly_figure(result):
    """The report skips plotly's validation; here every property goes through it."""
    for name, fig in _all_figures(result).items():
        checked = go.Figure(fig)  # raises on an unknown property or a bad value
        assert len(checked.data) == len(fig["data"]), name
        # No template of its own: the dashboard draws it with Streamlit's default template.
        assert "template" not in fig["layout"], name
        # The white look is in the layout, on every axis.
        assert checked.layout.plot_bgcolor == checked.layout.paper_bgcolor == "white", name
        assert checked.layout.font.family == charts._FONT, name
        for axis in [k for k in fig["layout"] if re.fullmatch(r"[xy]axis\d*", k)]:
            assert fig["layout"][axis]["gridcolor"] == "#EBF0F8", (name, axis)


def test_units_in_axis_titles(result):
    layout = charts.anomaly_scatter(result.rfm, "recency", "monetary", currency="£")["layout"]
    assert "days" in layout["xaxis"]["title"]["text"]
    assert "£" in layout["yaxis"]["title"]["text"]
    # A log money axis: every label carries the currency.
    assert layout["yaxis"]["ticktext"] and all(t.startswith("£")
                                               for t in layout["yaxis"]["ticktext"])
    linear = charts.anomaly_scatter(result.rfm.assign(monetary=result.rfm["recency"] + 1.0),
                                    "recency", "monetary", currency="£")["layout"]
    assert "type" not in linear["yaxis"] and linear["yaxis"]["tickprefix"] == "£"
    layout = charts.anomaly_scatter(result.rfm, "recency", "frequency")["layout"]
    assert "orders" in layout["yaxis"]["title"]["text"]


def _log_tick_values(lo: float, hi: float, steps: tuple[int, ...]) -> list[float]:
    """m × 10^n for m in ``steps``, from lo to hi, computed without the chart code."""
    out = []
    n = -3
    while 10.0 ** n <= hi:
        out += [m * 10.0 ** n for m in steps if lo <= m * 10.0 ** n <= hi]
        n += 1
    return out


def test_log_axes_tick_at_1_2_5_with_whole_counts_and_the_currency_on_every_label():
    rfm = pd.DataFrame({"customer_id": [str(i) for i in range(9)],
                        "recency": [1, 2, 3, 4, 5, 6, 7, 8, 9],
                        "frequency": [1, 1, 1, 1, 1, 2, 3, 40, 180],
                        "monetary": [3.5, 10, 12, 14, 15, 18, 20, 900, 4_200.0],
                        "is_anomaly": [False] * 9})
    layout = charts.anomaly_scatter(rfm, "frequency", "monetary", currency="£")["layout"]
    x, y = layout["xaxis"], layout["yaxis"]
    assert x["type"] == y["type"] == "log"
    # Frequency 1–180 spans 2.3 powers of ten: too many for 1-2-5 across a phone's width.
    assert x["tickvals"] == [1, 10, 100]
    assert x["ticktext"] == ["1", "10", "100"]
    # Spend 3.5–4,200 spans 3.1 powers of ten: 1-2-5 fits up a vertical axis.
    assert y["tickvals"] == pytest.approx(_log_tick_values(3.5, 4_200, (1, 2, 5)))
    assert y["ticktext"] == ["£5", "£10", "£20", "£50", "£100", "£200", "£500", "£1,000",
                             "£2,000"]
    # The range holds every point.
    assert 10 ** x["range"][0] < 1 and 10 ** x["range"][1] > 180
    # A short count range: 1-2-5, never a tick between two whole numbers.
    few = charts.anomaly_scatter(rfm.assign(frequency=[1, 1, 1, 1, 1, 1, 2, 3, 60]),
                                 "frequency", "monetary")["layout"]["xaxis"]
    assert few["tickvals"] == [1, 2, 5, 10, 20, 50]
    assert all(float(t).is_integer() for t in few["tickvals"])


def _segment_colors(fig: charts.Figure) -> dict[str, set[str]]:
    """segment name -> colours it is drawn with, from traces named after a segment or from
    per-bar colour lists whose x values are segment names."""
    seen: dict[str, set[str]] = {}
    for trace in fig["data"]:
        color = trace.get("marker", {}).get("color")
        # Horizontal bars name the segments along y.
        names = trace.get("y") if trace.get("orientation") == "h" else trace.get("x")
        if trace.get("name") in SEGMENTS and isinstance(color, str):
            seen.setdefault(trace["name"], set()).add(color)
        elif isinstance(color, list | tuple) and names is not None:
            for x, col in zip(names, color, strict=True):
                if html.unescape(x) in SEGMENTS:
                    seen.setdefault(html.unescape(x), set()).add(col)
    return seen


def test_segment_colour_is_identical_across_charts(result):
    figs = _all_figures(result)
    users = ["pca_scatter", *(f"profile_{p}" for p in PROFILE_PANELS), "distribution_recency",
             *(f"anomaly_{x}_{y}" for x, y in charts.ANOMALY_VIEWS)]
    per_chart = {name: _segment_colors(figs[name]) for name in users}
    for name in SEGMENTS:
        colours = set().union(*(per_chart[c].get(name, set()) for c in users))
        assert all(name in per_chart[c] for c in users), name
        assert len(colours) == 1, (name, colours)
    distinct = {next(iter(per_chart["pca_scatter"][n])) for n in SEGMENTS}
    assert len(distinct) >= 2  # the palette does tell segments apart


def test_charts_draw_each_segment_in_its_palette_colour(result):
    from custseg import segments

    drawn = _segment_colors(_all_figures(result)["pca_scatter"])
    for name in SEGMENTS:
        assert drawn[name] == {segments.segment_color(name)}, name


def test_k_metric_panels_mark_chosen_k_and_grey_ineligible(result):
    table = result.clustering.k_table
    panels = charts.k_metric_panels(table)
    assert len(panels) == 6
    for col, fig in zip(K_PANELS, panels, strict=True):
        (line,) = fig["layout"]["shapes"]
        assert line["x0"] == line["x1"] == 3 and line["xref"] == "x"
        assert [a["text"] for a in fig["layout"]["annotations"]] == ["chosen k=3"]
        (curve,) = [t for t in fig["data"] if t["mode"] == "lines"]
        assert list(curve["y"]) == table[col].tolist()
        rejected = _traces(fig, "fails the checks")
        assert rejected and all(t["marker"]["color"] == charts._GREY for t in rejected)
        assert sorted(rejected[0]["x"]) == sorted(table.loc[~table["eligible"], "k"])
        assert fig["layout"]["height"] <= 320  # small enough to stack on a phone
    # Without a chosen k nothing is marked; a table without a metric has no panel for it.
    bare = charts.k_metric_panels(table.drop(columns=["chosen", "stability"]))
    assert len(bare) == 5 and all("shapes" not in f["layout"] for f in bare)


def test_segment_profile_panels_show_each_segments_medians_and_shares(result):
    segments = result.segments
    panels = charts.segment_profile_panels(segments, currency="£")
    assert len(panels) == 4
    names = [html.unescape(n) for n in panels[0]["data"][0]["y"]]
    assert names == segments["segment"].tolist()
    for fig, col in zip(panels, ("recency_median", "frequency_median", "monetary_median"),
                        strict=False):
        (bars,) = fig["data"]
        assert bars["orientation"] == "h" and list(bars["x"]) == segments[col].tolist()
    assert panels[2]["layout"]["xaxis"]["title"]["text"] == "total spend (£)"
    assert panels[2]["layout"]["xaxis"]["tickprefix"] == "£"
    shares = {t["name"]: list(t["x"]) for t in panels[3]["data"]}
    assert shares == {"share of customers": segments["customer_share"].tolist(),
                      "share of revenue": segments["revenue_share"].tolist()}


def test_pca_axis_titles_show_explained_variance(result):
    c = result.clustering
    fig = charts.pca_scatter(c.pca, result.rfm, (0.6234, 0.251), c.pca_loadings)
    layout = fig["layout"]
    assert "62%" in layout["xaxis"]["title"]["text"]
    assert "25%" in layout["yaxis"]["title"]["text"]
    plotted = sorted(i for t in fig["data"] for i in t["customdata"][:, 0])
    assert plotted == sorted(result.rfm["customer_id"])
    names = [a for a in layout["annotations"] if a["text"]]
    assert {a["text"] for a in names} == {"<b>recency</b>", "<b>frequency</b>",
                                          "<b>monetary</b>"}


def test_pca_loading_names_stand_at_the_arrow_tips_and_apart():
    # Frequency and monetary point 10° apart, recency the other way.
    loadings = pd.DataFrame({"pc1": [-0.6, np.cos(np.radians(20)), np.cos(np.radians(30))],
                             "pc2": [0.2, np.sin(np.radians(20)), np.sin(np.radians(30))]},
                            index=["recency", "frequency", "monetary"])
    rng = np.random.default_rng(0)
    points = pd.DataFrame({"pc1": rng.normal(0, 2, 500), "pc2": rng.normal(0, 2, 500)})
    annotations = charts._loading_arrows(loadings, points)
    arrows = [a for a in annotations if a["showarrow"]]
    names = {a["text"]: a for a in annotations if not a["showarrow"]}
    reach = np.percentile(np.hypot(points["pc1"], points["pc2"]), 90)
    longest = np.hypot(loadings["pc1"], loadings["pc2"]).max()
    for arrow, (feature, row) in zip(arrows, loadings.iterrows(), strict=True):
        tip = row.to_numpy() * reach / longest
        # Head at the tip, tail at the origin; the name at the same tip, not at the origin.
        assert (arrow["x"], arrow["y"], arrow["ax"], arrow["ay"]) == pytest.approx(
            (tip[0], tip[1], 0, 0))
        name = names[f"<b>{feature}</b>"]
        assert (name["x"], name["y"]) == pytest.approx(tuple(tip))
        assert name["xanchor"] == ("left" if tip[0] > 0 else "right")
    # The two close names are pushed to opposite sides of their arrows; recency stays put.
    f, m = names["<b>frequency</b>"], names["<b>monetary</b>"]
    assert f["yshift"] < 0 < m["yshift"]
    assert names["<b>recency</b>"]["xshift"] == names["<b>recency</b>"]["yshift"] == 0


def test_anomaly_scatter_highlights_outliers_with_reason_and_log_axes(result):
    rfm = result.rfm
    fig = charts.anomaly_scatter(rfm, "frequency", "monetary")
    (outlier,) = _traces(fig, "outlier")
    assert outlier["marker"]["symbol"] not in (None, "circle")
    assert set(outlier["customdata"][:, 0]) == set(rfm.loc[rfm["is_anomaly"], "customer_id"])
    assert all("monetary far above" in r for r in outlier["customdata"][:, 4])
    assert "customdata[4]" in outlier["hovertemplate"]
    # Lognormal money is skewed: log axis; uniform recency is not.
    assert fig["layout"]["yaxis"]["type"] == "log"
    assert "type" not in charts.anomaly_scatter(rfm, "recency", "monetary")["layout"]["xaxis"]
    with pytest.raises(charts.ConfigError):
        charts.anomaly_scatter(rfm, "tenure", "monetary")


def test_sampling_keeps_all_outliers_and_is_seeded():
    n = charts.SAMPLE_ABOVE + 5_000
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"customer_id": np.arange(n).astype(str),
                          "is_anomaly": rng.random(n) < 0.01})
    shown, sampled = charts.sample_points(frame, seed=1)
    assert sampled
    assert frame["is_anomaly"].sum() == shown["is_anomaly"].sum()
    assert (~shown["is_anomaly"]).sum() == charts.SAMPLE_SIZE
    again, _ = charts.sample_points(frame, seed=1)
    other, _ = charts.sample_points(frame, seed=2)
    assert again["customer_id"].tolist() == shown["customer_id"].tolist()
    assert other["customer_id"].tolist() != shown["customer_id"].tolist()
    small, sampled = charts.sample_points(frame.head(100))
    assert not sampled and len(small) == 100


def test_large_scatter_plots_a_sample_with_every_outlier():
    rfm = _rfm(n=charts.SAMPLE_ABOVE + 1_000, outliers=400)
    fig = charts.anomaly_scatter(rfm, "frequency", "monetary", seed=5)
    title = fig["layout"]["title"]["text"]
    assert "sample" in title and "400 outliers" in title
    points = sum(len(t["x"]) for t in fig["data"])
    assert points == charts.SAMPLE_SIZE + 400
    (outlier,) = _traces(fig, "outlier")
    assert set(outlier["customdata"][:, 0]) == set(rfm.loc[rfm["is_anomaly"], "customer_id"])
    pca, explained, _ = _pca(rfm)
    fig = charts.pca_scatter(pca, rfm, explained, seed=5)
    assert sum(len(t["x"]) for t in fig["data"]) == charts.SAMPLE_SIZE + 400
    assert "sample" in fig["layout"]["title"]["text"]


def test_waterfall_accounts_for_every_row():
    report_ = _cleaning()
    fig = charts.cleaning_waterfall(report_)
    (trace,) = fig["data"]
    assert list(trace["measure"]) == ["absolute", "relative", "relative", "relative", "total"]
    assert trace["x"][0] == report_.rows_in
    assert trace["x"][0] + sum(trace["x"][1:-1]) == report_.rows_kept
    # The rules in the words the dashboard and the report use (custseg.labels.rule_label).
    assert list(trace["y"])[1:-1] == ["no customer id", "cancellation", "country not kept"]
    title = fig["layout"]["title"]["text"]
    assert "10,000" in title and "7,250" in title
    # A to_dict()-style mapping works too.
    as_dict = charts.cleaning_waterfall(vars(report_))
    assert list(as_dict["data"][0]["x"]) == list(trace["x"])


def test_distributions_count_every_customer_per_segment(result):
    rfm = result.rfm
    expected = rfm["segment"].value_counts()
    panels = charts.rfm_distribution_panels(rfm, currency="£")
    assert len(panels) == 3
    for var, fig in zip(("recency", "frequency", "monetary"), panels, strict=True):
        for name in SEGMENTS:
            assert sum(int(sum(t["y"])) for t in _traces(fig, name)) == expected[name], var
    # Lognormal spend is binned on log10: the ticks name the amounts, each with the currency.
    money_axis = panels[2]["layout"]["xaxis"]
    assert [f"£{v:,.0f}" if v >= 1 else f"£{v:g}" for v in 10 ** np.array(
        money_axis["tickvals"])] == money_axis["ticktext"]


def test_flagged_kinds_counts(result):
    from custseg.labels import kind_label

    (trace,) = charts.flagged_kinds(result.flagged_transactions)["data"]
    counts = dict(zip(trace["y"], trace["x"], strict=True))
    assert counts == {kind_label(k): n for k, n in
                      result.flagged_transactions["kind"].value_counts().items()}
    assert all("_" not in k for k in counts)
    empty = charts.flagged_kinds(result.flagged_transactions.iloc[:0])
    assert all(len(t["x"]) == 0 for t in empty["data"])
    assert "No transaction lines" in empty["layout"]["annotations"][0]["text"]


def test_the_dashboard_accepts_every_chart(result):
    """st.plotly_chart validates a dict figure and refuses one without traces."""
    import plotly.tools

    for name, fig in _all_figures(result).items():
        accepted = plotly.tools.return_figure_from_figure_or_data(fig, validate_figure=True)
        assert accepted["data"], name


# --------------------------------------------------------------------------- report


def test_report_has_every_section_and_toc(result):
    page = report.render_html(result)
    for sid, title in report.SECTIONS:
        assert f'<section id="{sid}">' in page
        assert f'href="#{sid}"' in page
        assert html.escape(title) in page
    # Cleaning; 3 distributions; 6 k metrics; PCA; 4 profiles; importances; 3 outlier views;
    # flagged kinds.
    assert page.count('<div class="chart">') == 20
    assert page.count('<div class="panels">') == 4


def test_report_is_self_contained_with_plotly_once(result):
    page = report.render_html(result)
    assert not re.search(r"<script[^>]*\bsrc\s*=", page, re.I)
    assert not re.search(r"<link[^>]*href\s*=\s*[\"']?(https?:)?//", page, re.I)
    # Outside the inlined bundle (whose defaults mention URLs it never fetches for these
    # charts), nothing refers to the network.
    outside = page.replace(get_plotlyjs().replace("</", "<\\/"), "")
    assert len(outside) < len(page) // 2
    assert not re.search(r"https?://", outside)
    head = get_plotlyjs()[:300]
    assert page.count(head) == 1
    assert page.count("plotly.js v") == 1
    assert page.index(head) < page.index('<div class="chart">')


def test_report_escapes_user_data(result):
    page = report.render_html(result)
    body = page[page.index("<body>"):]
    assert EVIL not in body
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in body
    assert "New &lt;b&gt;customers&lt;/b&gt;" in body
    assert "data/&lt;retail&gt;.xlsx" in body
    assert "best &lt;silhouette&gt;" in body
    # Summary markdown is rendered, its raw HTML is not.
    assert "<strong>3</strong>" in body and "raw &lt;b&gt;tag&lt;/b&gt;" in body


def test_report_tables_format_numbers_and_cap_rows(result):
    page = report.render_html(result)
    assert "10,000" in page and "7,250" in page and "£123,456.78" in page
    quantity = page[page.index("<summary>Quantity"):]
    quantity = quantity[:quantity.index("</details>")]
    assert quantity.count("<tr>") == report.TOP_LINES_PER_KIND + 1  # + header row
    # Highest scores first: 249 is the top score of the 250 quantity lines.
    first = re.search(r"<tbody><tr>(.*?)</tr>", quantity).group(1)
    assert ">249.00<" in first
    assert "250 lines" in quantity


def test_report_flagged_customer_table_is_sorted_and_capped(result):
    rfm = _rfm(n=400, outliers=150)
    result.rfm = rfm
    result.clustering.pca, result.clustering.pca_explained, _ = _pca(rfm)
    page = report.render_html(result)
    section = page[page.index('<section id="customer-anomalies">'):]
    section = section[:section.index("</section>")]
    table = section[section.index('<div class="scroll">'):]
    ids = re.findall(r'<tr><td data-label="Customer">(\d+)</td>', table)
    expected = rfm[rfm["is_anomaly"]].sort_values("anomaly_score", ascending=False)
    assert ids == expected["customer_id"].head(report.TOP_CUSTOMERS).tolist()


def test_report_without_modelling_stages(result, tmp_path):
    result.clustering = result.segments = result.explanation = None
    result.customer_anomalies = result.flagged_transactions = None
    result.rfm = result.rfm.drop(columns=["segment", "is_anomaly", "anomaly_reason"])
    del result.summary_markdown
    path = report.write_html(result, tmp_path / "out" / "report.html")
    page = path.read_text(encoding="utf-8")
    # Segments, explanation, both anomaly sections and the future value (no lifetime value).
    assert page.count("was not computed in this run") == 6
    assert page.count("plotly.js v") == 1
    assert '<section id="summary">' in page


_CHART = re.compile(r'<div id="(fig-[\w-]+)" class="plotly-graph-div" style="height:(\d+)px; '
                    r'width:100%;"></div><script>document\.addEventListener\("DOMContentLoaded", '
                    r'\(\) => Plotly\.newPlot\("\1", ')


def _no_constant(name: str) -> None:
    raise AssertionError(f"{name} is not JSON")


def _embedded(page: str) -> dict[str, tuple[int, dict]]:
    """Each chart's div id -> (div height, figure) of its ``Plotly.newPlot`` call."""
    decoder = json.JSONDecoder(parse_constant=_no_constant)  # strict: no NaN or Infinity
    found = {}
    for match in _CHART.finditer(page):
        figure, end = decoder.raw_decode(page, match.end())
        assert page.startswith("));</script></div>", end)
        found[match.group(1)] = (int(match.group(2)), figure)
    return found


def _figures(page: str) -> dict[str, dict]:
    return {div_id: figure for div_id, (_, figure) in _embedded(page).items()}


def _values(array) -> list:
    """A data array as plotly.js reads it: a JSON list or a typed array (base64 "bdata")."""
    if isinstance(array, dict):
        values = np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"])
        shape = [int(n) for n in array.get("shape", str(len(values))).split(",")]
        return values.reshape(shape).tolist()
    return array


def _axis_titles(fig: dict) -> dict[str, str]:
    return {k: v["title"]["text"] for k, v in fig["layout"].items()
            if re.fullmatch(r"[xy]axis\d*", k)}


REPORT_CHARTS = ["fig-cleaning", *(f"fig-rfm-distributions-{i}" for i in range(3)),
                 *(f"fig-k-metrics-{i}" for i in range(6)), "fig-pca",
                 *(f"fig-profiles-{i}" for i in range(4)), "fig-importances",
                 "fig-anomaly-frequency-monetary", "fig-anomaly-recency-monetary",
                 "fig-anomaly-recency-frequency", "fig-flagged-kinds"]


def test_report_draws_every_chart_with_titles_and_its_height(result):
    embedded = _embedded(report.render_html(result))
    assert list(embedded) == REPORT_CHARTS
    for div_id, (height, fig) in embedded.items():
        assert height == fig["layout"]["height"], div_id
        assert fig["config"] == {"displaylogo": False, "responsive": True}, div_id
        assert fig["layout"]["title"]["text"], div_id
        titles = _axis_titles(fig)
        assert {"xaxis", "yaxis"} <= set(titles) and all(titles.values()), div_id
        assert fig["data"] and all(t["type"] for t in fig["data"]), div_id


def test_report_charts_show_the_numbers_of_the_run(result):
    figs = _figures(report.render_html(result))
    rfm, segments = result.rfm, result.segments
    # Cleaning: rows in, minus what each rule dropped, equals rows kept.
    (waterfall,) = figs["fig-cleaning"]["data"]
    assert waterfall["y"] == ["rows in", "no customer id", "cancellation", "country not kept",
                              "rows kept"]
    assert _values(waterfall["x"]) == [10_000, -2_000, -500, -250, 7_250]
    assert figs["fig-cleaning"]["layout"]["title"]["text"].startswith("Cleaning: the row account")
    assert "10,000 rows in, 7,250 kept (72.5%)" in figs["fig-cleaning"]["layout"]["title"]["text"]
    # Distributions: each panel counts every customer once, per segment.
    expected = rfm["segment"].value_counts().to_dict()
    for i in range(3):
        counts: dict[str, int] = {}
        for trace in figs[f"fig-rfm-distributions-{i}"]["data"]:
            counts[trace["name"]] = counts.get(trace["name"], 0) + sum(_values(trace["y"]))
        assert counts == expected, i
    # Choosing k: each panel's line is a column of the k table; k = 3 marked on every panel.
    k_table = result.clustering.k_table
    columns = ["inertia", "silhouette", "calinski_harabasz", "davies_bouldin", "min_share",
               "stability"]
    for i, col in enumerate(columns):
        fig = figs[f"fig-k-metrics-{i}"]
        (line,) = [t for t in fig["data"] if t["mode"] == "lines"]
        assert _values(line["y"]) == k_table[col].tolist(), col
        assert [s["x0"] for s in fig["layout"]["shapes"]] == [3]
    # PCA: every customer once, in their segment's trace; the axes give explained variance.
    pca = figs["fig-pca"]
    shown = {row[0]: t["name"] for t in pca["data"] for row in t["customdata"]}
    assert shown == dict(zip(rfm["customer_id"], rfm["segment"], strict=True))
    share = result.clustering.pca_explained
    assert _axis_titles(pca)["xaxis"].startswith(f"PC1 ({share[0]:.0%} of variance")
    # Profiles: each median bar is the segment table's median.
    for i, col in enumerate(("recency_median", "frequency_median", "monetary_median")):
        (trace,) = figs[f"fig-profiles-{i}"]["data"]
        assert dict(zip(map(html.unescape, trace["y"]), _values(trace["x"]), strict=True)) == \
            dict(zip(segments["segment"], segments[col], strict=True)), col
    assert _axis_titles(figs["fig-profiles-2"])["xaxis"] == "total spend (£)"
    # Importances: both kinds, per feature.
    bars = {t["hovertemplate"].split("<extra>")[1][:-len("</extra>")]:
            dict(zip(t["y"], _values(t["x"]), strict=True))
            for t in figs["fig-importances"]["data"]}
    importances = result.explanation.importances.set_index("feature")
    assert bars == {c: importances[c].to_dict() for c in ("impurity", "permutation")}
    # Flagged lines per kind.
    (kinds,) = figs["fig-flagged-kinds"]["data"]
    assert dict(zip(kinds["y"], _values(kinds["x"]), strict=True)) == {"Quantity": 250,
                                                                       "Price": 3}


@pytest.mark.parametrize(("x", "y"), charts.ANOMALY_VIEWS)
def test_report_outlier_charts_show_every_customer_and_the_reasons_literally(result, x, y):
    fig = _figures(report.render_html(result))[f"fig-anomaly-{x}-{y}"]
    rfm = result.rfm
    assert sum(len(_values(t["x"])) for t in fig["data"]) == len(rfm)
    (outlier,) = [t for t in fig["data"] if t["name"] == "outlier"]
    flagged = rfm[rfm["is_anomaly"]].set_index("customer_id")
    assert {row[0] for row in outlier["customdata"]} == set(flagged.index)
    for row in outlier["customdata"]:
        assert row[1:4] == flagged.loc[row[0], ["recency", "frequency", "monetary"]].tolist()
        # "<" shown as text by plotly.js, not drawn as markup.
        assert row[4] == "monetary far above &lt;script&gt;alert('x')&lt;/script&gt;"
    units = {"recency": "days", "frequency": "orders", "monetary": "£"}
    titles = _axis_titles(fig)
    assert units[x] in titles["xaxis"] and units[y] in titles["yaxis"]
    if y == "monetary":
        axis = fig["layout"]["yaxis"]
        labels = axis["ticktext"] if axis.get("type") == "log" else [axis["tickprefix"]]
        assert labels and all(t.startswith("£") for t in labels)
        assert "£%{customdata[3]:,.2f}" in outlier["hovertemplate"]


def test_report_draws_each_segments_products_and_the_stock_priorities(result):
    names = result.segments["segment"].astype(str).tolist()  # the report's order
    result.segment_products, result.stock_priorities = _product_tables(names)
    figs = _figures(report.render_html(result))
    for i, name in enumerate(names):
        fig = figs[f"fig-mix-{i}"]
        # The name is shown as text: plotly.js would draw "<b>" in a title as bold.
        assert fig["layout"]["title"]["text"].startswith(html.escape(name, quote=False) + ":")
        assert _axis_titles(fig)["xaxis"] == "revenue from the segment (£)"
        (bars,) = fig["data"]
        # Most revenue first, coloured by lift; "<b>" is shown as text, not drawn bold.
        assert bars["y"] == ["MUG", "JUG &lt;b&gt;"]
        assert _values(bars["x"]) == [300.0, 200.0]
        assert _values(bars["marker"]["color"]) == [1.2, 0.8]
    stock = figs["fig-stock"]
    # The product without a description is labelled by its code.
    assert {t["name"]: t["y"] for t in stock["data"]} == {"rising": ["MUG"], "falling": ["B2"]}
    assert {t["name"]: _values(t["x"]) for t in stock["data"]} == {"rising": [900.0],
                                                                   "falling": [600.0]}
    assert stock["layout"]["yaxis"]["categoryarray"] == ["B2", "MUG"]


def test_report_rfm_grid_counts_customers_per_grid_segment_in_grid_order(result):
    page = report.render_html(result)
    grid = page[page.index("<h3>RFM grid</h3>"):]
    grid = grid[:grid.index("</table>")]
    rows = re.findall(r'<tr><td data-label="RFM-grid segment">([^<]+)</td>'
                      r'<td class="num" data-label="Customers">([\d,]+)</td>'
                      r'<td class="num" data-label="Revenue">£([\d,.]+)</td>', grid)
    rfm = result.rfm
    counts = rfm["rfm_segment"].value_counts()
    revenue = rfm.groupby("rfm_segment")["monetary"].sum()
    names = [html.unescape(name) for name, _, _ in rows]
    assert names == [s for s in GRID_SEGMENTS if s in counts]
    for name, (_, customers, money_) in zip(names, rows, strict=True):
        assert int(customers.replace(",", "")) == counts[name]
        assert money_ == f"{revenue[name]:,.2f}"


def test_rfm_grid_bar_and_table(result):
    rfm = result.rfm
    table = charts.rfm_grid_table(rfm)
    counts = rfm["rfm_segment"].value_counts()
    assert table["rfm_segment"].tolist() == [s for s in GRID_SEGMENTS if s in counts]
    assert table.set_index("rfm_segment")["customers"].to_dict() == counts.to_dict()
    assert table["customer_share"].sum() == pytest.approx(1.0)
    assert table["revenue_share"].sum() == pytest.approx(1.0)
    medians = rfm.groupby("rfm_segment")["recency"].median()
    assert table.set_index("rfm_segment")["recency_median"].to_dict() == medians.to_dict()
    (bars,) = charts.rfm_grid_bar(rfm, currency="EUR")["data"]
    assert list(bars["y"]) == table["rfm_segment"].tolist()
    assert list(bars["x"]) == table["customers"].tolist()
    assert "EUR %{customdata[0]:,.0f}" in bars["hovertemplate"]


def test_chart_json_cannot_close_its_script_and_keeps_the_text():
    evil = "</script><script>alert(1)</script><!-- \u2028"
    fig = charts._style({"data": [{
        "type": "bar", "x": [evil, "b"], "y": np.array([1.5, np.nan]),
        "customdata": np.array([[evil, np.inf], ["17850", 3]], dtype=object)}],
        "layout": {"xaxis": {"title": {"text": evil}}, "yaxis": {"title": {"text": "y"}}}}, evil)
    markup = report._chart(fig, "evil")
    script = markup[markup.index("<script>") + len("<script>"):markup.rindex("</script>")]
    for unsafe in ("</", "<!--", "\u2028"):
        assert unsafe not in script
    (shown,) = _figures(markup).values()
    (trace,) = shown["data"]
    assert trace["x"] == [evil, "b"]
    assert shown["layout"]["title"]["text"] == evil
    assert _axis_titles(shown)["xaxis"] == evil
    y = _values(trace["y"])
    assert y[0] == 1.5 and (y[1] is None or np.isnan(y[1]))  # NaN: null, or NaN in a typed array
    assert _values(trace["customdata"]) == [[evil, None], ["17850", 3]]


def test_markdown_renders_the_summary_and_shows_raw_html_and_links_as_text():
    text = ("# Summary\n\n## Key points\n\n- **3** segments, *mostly* `new`\n"
            "- raw <b>tag</b> & <script>alert(1)</script>\n\n"
            "[click](javascript:alert(1)) ![pixel](http://example.com/p.png) "
            "<http://example.com>\n")
    out = report.markdown(text)
    assert "<h3>Summary</h3>" in out and "<h4>Key points</h4>" in out  # h1, h2 are the report's
    assert "<li><strong>3</strong> segments, <em>mostly</em> <code>new</code></li>" in out
    assert "raw &lt;b&gt;tag&lt;/b&gt; &amp; &lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert "<a" not in out and "<img" not in out and "<script" not in out
    assert "[click](javascript:alert(1)) ![pixel](http://example.com/p.png)" in out


# --------------------------------------------------------------------------- plain words


def _with_actions(result):
    """The fixture with what a current run carries: per-customer actions and lapsed counts,
    the k notes, the scope sentence, real kind names and both detectors' flags."""
    rfm = result.rfm
    rfm["lapsed"] = [i % 7 == 0 for i in range(len(rfm))]
    rfm["action"] = np.where(rfm["lapsed"], "Win back with a personal offer", "Keep as is")
    rfm["action_reason"] = np.where(rfm["lapsed"], "last order 300 days ago, usually every 30",
                                    "")
    result.segments["lapsed"] = (result.segments["segment"]
                                 .map(rfm.groupby("segment")["lapsed"].sum()).astype(int))
    table = result.clustering.k_table
    table["note"] = np.where(table["chosen"], "chosen: the elbow of inertia",
                             "passed over: splits the customers 30% / 70%")
    result.summary = {"scope": "2 of 5 countries are kept; 3 left out (250 rows)."}
    result.summary_markdown = ("# Executive summary\n\n" + result.summary["scope"]
                               + "\n\n**Data.** Lines kept.")
    result.flagged_transactions = _flagged({"quantity_outlier": 3, "price_outlier": 2}).assign(
        reason="far from the product's usual")
    # The first detector flags customers 0–4, the second 3–6: 2 in common, 7 in all.
    ids = rfm["customer_id"]
    result.customer_anomalies.scores = pd.DataFrame({
        "customer_id": ids, "is_anomaly": ids.isin(ids.iloc[0:5]),
        "second_is_anomaly": ids.isin(ids.iloc[3:7])})
    result.customer_anomalies.agreement = 2 / 7
    return result


def _headers(page: str) -> list[str]:
    return [html.unescape(h) for h in re.findall(r"<th[^>]*>([^<]*)</th>", page)]


def test_report_tables_are_headed_in_plain_words(result):
    page = report.render_html(_with_actions(result))
    headers = _headers(page)
    assert headers and not [h for h in headers if "_" in h]
    for expected in ("Segment", "Customers", "Lapsed customers", "Share of revenue",
                     "Opportunity", "Action", "Why this action", "Why flagged",
                     "RFM-grid segment", "Share of customers", "Calinski–Harabasz", "Why",
                     "Stock code", "Date", "Unit price", "Anomaly score", "k (segments)"):
        assert expected in headers, expected
    # Each cell carries its column's words, shown before the value when rows become cards.
    assert '<td data-label="Action">Keep as is</td><td data-label="Why this action"></td>' \
        in page


def test_report_says_why_each_k_and_each_customers_own_action(result):
    result = _with_actions(result)
    page = report.render_html(result)
    k_section = page[page.index('<section id="choosing-k">'):page.index('<section id="segments">')]
    for note in result.clustering.k_table["note"]:
        assert f'<td data-label="Why">{html.escape(note)}</td>' in k_section
    actions = page[page.index("<h3>Actions</h3>"):]
    actions = actions[:actions.index("</table>")]
    for row in result.segments.itertuples():
        assert f'data-label="Lapsed customers">{row.lapsed}</td>' in actions
    flagged = result.rfm[result.rfm["is_anomaly"]]
    customers = page[page.index("<h3>Flagged customers"):]
    for action in flagged["action"]:
        assert f'<td data-label="Action">{action}</td>' in customers


def test_report_opens_with_the_scope_and_says_it_once(result):
    result = _with_actions(result)
    page = report.render_html(result)
    scope = html.escape(result.summary["scope"])
    assert page.count(scope) == 1
    assert page.index(f'<p class="scope">{scope}</p>') < page.index('<nav class="toc">')
    assert "<strong>Data.</strong> Lines kept." in page  # the rest of the summary stays


def test_report_explains_the_two_detectors_agreement_in_words(result):
    page = report.render_html(_with_actions(result))
    assert ("The customers are scored by Isolation Forest; a second, different method (Local "
            "Outlier Factor) flags 4 customers, 2 of them the same as the 5 flagged here: the "
            "two agree on 28.6% of the 7 customers either flags.") in page
    assert "lof" not in page[page.index("<body>"):].replace("Outlier Factor", "")


def test_report_names_kinds_sources_and_unapplied_rules_in_words(result):
    from custseg.anomalies import KIND_LABELS

    result = _with_actions(result)
    result.cleaning.skipped = {"after_snapshot": "Not applied: no as-of date was given."}
    page = report.render_html(result)
    body = page[page.index("<body>"):]
    for kind in ("quantity_outlier", "price_outlier"):
        assert kind not in body
        assert f"<summary>{KIND_LABELS[kind]}:" in body
    assert "(excel workbook)" in body and "(excel)" not in body
    assert "<li>After snapshot: no as-of date was given.</li>" in body


def test_labels_are_plain_words_for_every_column_a_run_shows():
    import custseg
    from custseg import labels, synth

    run = custseg.run(synth.generate_frame(120, 3)[0])
    frames = [run.rfm, run.segments, run.clustering.k_table, run.flagged_transactions,
              run.segment_products, run.stock_priorities, run.explanation.importances,
              run.explanation.rules]
    columns = {str(c) for frame in frames for c in frame.columns}
    assert columns - set(labels.COLUMN_LABELS) == set()
    assert not [c for c in columns if "_" in labels.label(c)]
    # Names nobody listed still read as words.
    assert labels.label("days_since_first_order") == "Days since first order"
    assert labels.kind_label("quantity_outlier") == "Unusually large quantity"
    assert labels.kind_label("odd_new_kind") == "Odd new kind"
