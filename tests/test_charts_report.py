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


def _all_figures(res) -> dict[str, charts.Figure]:
    c = res.clustering
    figs = {
        "k_metrics": charts.k_metrics(c.k_table),
        "pca_scatter": charts.pca_scatter(c.pca, res.rfm, c.pca_explained, c.pca_loadings),
        "segment_profiles": charts.segment_profiles(res.segments),
        "importances_bar": charts.importances_bar(res.explanation.importances),
        "cleaning_waterfall": charts.cleaning_waterfall(res.cleaning),
        "rfm_distributions": charts.rfm_distributions(res.rfm),
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
    assert len(figs) == 14
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


GRID_CHARTS = {"k_metrics": 6, "segment_profiles": 4, "rfm_distributions": 3}


@pytest.mark.parametrize(("name", "panels"), GRID_CHARTS.items())
def test_each_panel_of_a_grid_has_its_axes_and_a_title_above(result, name, panels):
    fig = _all_figures(result)[name]
    grid = fig["layout"]["grid"]
    assert grid["pattern"] == "independent" and grid["rows"] * grid["columns"] >= panels
    # plotly.js gives cell i (row by row from the top left) the axes x<i+1> and y<i+1>.
    drawn = {(t["xaxis"], t["yaxis"]) for t in fig["data"]}
    expected = {("x", "y")} | {(f"x{i}", f"y{i}") for i in range(2, panels + 1)}
    assert drawn == expected
    titles = [a for a in fig["layout"]["annotations"] if a["xref"].endswith(" domain")]
    assert {(a["xref"], a["yref"]) for a in titles} == \
        {(f"{x} domain", f"{y} domain") for x, y in expected}
    assert all(a["y"] == 1 and a["yanchor"] == "bottom" and a["text"] for a in titles)
    for x, y in expected:
        for axis in (x, y):
            key = axis[0] + "axis" + axis[1:]
            assert fig["layout"][key]["title"]["text"], (name, key)


def test_units_in_axis_titles(result):
    layout = charts.anomaly_scatter(result.rfm, "recency", "monetary", currency="£")["layout"]
    assert "days" in layout["xaxis"]["title"]["text"]
    assert "£" in layout["yaxis"]["title"]["text"] and layout["yaxis"]["tickprefix"] == "£"
    layout = charts.anomaly_scatter(result.rfm, "recency", "frequency")["layout"]
    assert "orders" in layout["yaxis"]["title"]["text"]


def _segment_colors(fig: charts.Figure) -> dict[str, set[str]]:
    """segment name -> colours it is drawn with, from traces named after a segment or from
    per-bar colour lists whose x values are segment names."""
    seen: dict[str, set[str]] = {}
    for trace in fig["data"]:
        color = trace.get("marker", {}).get("color")
        if trace.get("name") in SEGMENTS and isinstance(color, str):
            seen.setdefault(trace["name"], set()).add(color)
        elif isinstance(color, list | tuple) and trace.get("x") is not None:
            for x, col in zip(trace["x"], color, strict=True):
                if x in SEGMENTS:
                    seen.setdefault(x, set()).add(col)
    return seen


def test_segment_colour_is_identical_across_charts(result):
    figs = _all_figures(result)
    users = ["pca_scatter", "segment_profiles", "rfm_distributions",
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


def test_k_metrics_marks_chosen_k_and_greys_ineligible(result):
    table = result.clustering.k_table
    fig = charts.k_metrics(table)
    lines = [s for s in fig["layout"]["shapes"] if s["type"] == "line"]
    assert len(lines) == 6 and all(s["x0"] == s["x1"] == 3 for s in lines)
    assert {s["xref"] for s in lines} == {"x", "x2", "x3", "x4", "x5", "x6"}
    assert "chosen k = 3" in fig["layout"]["title"]["text"]
    rejected = _traces(fig, "rejected k")
    assert rejected and all(t["marker"]["color"] == charts._GREY for t in rejected)
    assert sorted(rejected[0]["x"]) == sorted(table.loc[~table["eligible"], "k"])


def test_pca_axis_titles_show_explained_variance(result):
    c = result.clustering
    fig = charts.pca_scatter(c.pca, result.rfm, (0.6234, 0.251), c.pca_loadings)
    layout = fig["layout"]
    assert "62.3%" in layout["xaxis"]["title"]["text"]
    assert "25.1%" in layout["yaxis"]["title"]["text"]
    plotted = sorted(i for t in fig["data"] for i in t["customdata"][:, 0])
    assert plotted == sorted(result.rfm["customer_id"])
    assert {a["text"] for a in layout["annotations"]} == {"recency", "frequency", "monetary"}


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
    assert trace["y"][0] == report_.rows_in
    assert trace["y"][0] + sum(trace["y"][1:-1]) == report_.rows_kept
    assert list(trace["x"])[1:-1] == ["missing customer", "cancellation", "country"]
    title = fig["layout"]["title"]["text"]
    assert "10,000" in title and "7,250" in title
    # A to_dict()-style mapping works too.
    as_dict = charts.cleaning_waterfall(vars(report_))
    assert list(as_dict["data"][0]["y"]) == list(trace["y"])


def test_distributions_count_every_customer_per_segment(result):
    rfm = result.rfm
    fig = charts.rfm_distributions(rfm)
    expected = rfm["segment"].value_counts()
    for axis in ("x", "x2", "x3"):
        for name in SEGMENTS:
            bars = [t for t in _traces(fig, name) if t["xaxis"] == axis]
            assert sum(int(sum(t["y"])) for t in bars) == expected[name], (axis, name)


def test_flagged_kinds_counts(result):
    (trace,) = charts.flagged_kinds(result.flagged_transactions)["data"]
    counts = dict(zip(trace["x"], trace["y"], strict=True))
    assert counts == result.flagged_transactions["kind"].value_counts().to_dict()
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
    assert page.count('<div class="chart">') == 10


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
    quantity = page[page.index("<summary>quantity"):]
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
    ids = re.findall(r"<tr><td>(\d+)</td>", table)
    expected = rfm[rfm["is_anomaly"]].sort_values("anomaly_score", ascending=False)
    assert ids == expected["customer_id"].head(report.TOP_CUSTOMERS).tolist()


def test_report_without_modelling_stages(result, tmp_path):
    result.clustering = result.segments = result.explanation = None
    result.customer_anomalies = result.flagged_transactions = None
    result.rfm = result.rfm.drop(columns=["segment", "is_anomaly", "anomaly_reason"])
    del result.summary_markdown
    path = report.write_html(result, tmp_path / "out" / "report.html")
    page = path.read_text(encoding="utf-8")
    assert page.count("was not computed in this run") == 5
    assert page.count("plotly.js v") == 1
    assert '<section id="summary">' in page


_CHART = re.compile(r'<div id="(fig-[\w-]+)" class="plotly-graph-div" style="height:(\d+)px; '
                    r'width:100%;"></div><script>if \(document\.getElementById\("\1"\)\) '
                    r'\{Plotly\.newPlot\("\1", ')


def _no_constant(name: str) -> None:
    raise AssertionError(f"{name} is not JSON")


def _embedded(page: str) -> dict[str, tuple[int, dict]]:
    """Each chart's div id -> (div height, figure) of its ``Plotly.newPlot`` call."""
    decoder = json.JSONDecoder(parse_constant=_no_constant)  # strict: no NaN or Infinity
    found = {}
    for match in _CHART.finditer(page):
        figure, end = decoder.raw_decode(page, match.end())
        assert page.startswith(")};</script></div>", end)
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


REPORT_CHARTS = ["fig-cleaning", "fig-rfm-distributions", "fig-k-metrics", "fig-pca",
                 "fig-profiles", "fig-importances", "fig-anomaly-frequency-monetary",
                 "fig-anomaly-recency-monetary", "fig-anomaly-recency-frequency",
                 "fig-flagged-kinds"]


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
    assert waterfall["x"] == ["rows in", "missing customer", "cancellation", "country",
                              "rows kept"]
    assert _values(waterfall["y"]) == [10_000, -2_000, -500, -250, 7_250]
    assert figs["fig-cleaning"]["layout"]["title"]["text"] == \
        "Cleaning: 10,000 rows in → 7,250 kept (72.5%)"
    # Distributions: each panel counts every customer once, per segment.
    per_panel: dict[str, dict[str, int]] = {}
    for trace in figs["fig-rfm-distributions"]["data"]:
        counts = per_panel.setdefault(trace["xaxis"], {})
        counts[trace["name"]] = counts.get(trace["name"], 0) + sum(_values(trace["y"]))
    expected = rfm["segment"].value_counts().to_dict()
    assert per_panel == {"x": expected, "x2": expected, "x3": expected}
    # Choosing k: each panel's line is a column of the k table; k = 3 marked on every panel.
    k_fig, k_table = figs["fig-k-metrics"], result.clustering.k_table
    lines = [t for t in k_fig["data"] if t["mode"] == "lines"]
    columns = ["inertia", "silhouette", "calinski_harabasz", "davies_bouldin", "min_share",
               "stability"]
    assert [_values(t["y"]) for t in lines] == [k_table[c].tolist() for c in columns]
    assert [s["x0"] for s in k_fig["layout"]["shapes"]] == [3] * 6
    # PCA: every customer once, in their segment's trace; the axes give explained variance.
    pca = figs["fig-pca"]
    shown = {row[0]: t["name"] for t in pca["data"] for row in t["customdata"]}
    assert shown == dict(zip(rfm["customer_id"], rfm["segment"], strict=True))
    share = result.clustering.pca_explained
    assert _axis_titles(pca)["xaxis"].startswith(f"PC1 ({share[0]:.1%} of variance")
    # Profiles: each median bar is the segment table's median.
    medians = figs["fig-profiles"]["data"][:3]
    for trace, col in zip(medians, ("recency_median", "frequency_median", "monetary_median"),
                          strict=True):
        assert dict(zip(trace["x"], _values(trace["y"]), strict=True)) == \
            dict(zip(segments["segment"], segments[col], strict=True)), col
    assert _axis_titles(figs["fig-profiles"])["yaxis3"] == "spend (£)"
    # Importances: both kinds, per feature.
    bars = {t["hovertemplate"].split("<extra>")[1][:-len("</extra>")]:
            dict(zip(t["y"], _values(t["x"]), strict=True))
            for t in figs["fig-importances"]["data"]}
    importances = result.explanation.importances.set_index("feature")
    assert bars == {c: importances[c].to_dict() for c in ("impurity", "permutation")}
    # Flagged lines per kind.
    (kinds,) = figs["fig-flagged-kinds"]["data"]
    assert dict(zip(kinds["x"], _values(kinds["y"]), strict=True)) == {"quantity": 250,
                                                                       "price": 3}


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
        assert fig["layout"]["yaxis"]["tickprefix"] == "£"
        assert "£%{customdata[3]:,.2f}" in outlier["hovertemplate"]


def test_report_draws_each_segments_products_and_the_stock_priorities(result):
    names = result.segments["segment"].astype(str).tolist()  # the report's order
    result.segment_products, result.stock_priorities = _product_tables(names)
    figs = _figures(report.render_html(result))
    for i, name in enumerate(names):
        fig = figs[f"fig-mix-{i}"]
        assert fig["layout"]["title"]["text"].startswith(name)
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
    rows = re.findall(r'<tr><td>([^<]+)</td><td class="num">([\d,]+)</td>'
                      r'<td class="num">£([\d,.]+)</td>', grid)
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
    assert list(bars["x"]) == table["rfm_segment"].tolist()
    assert list(bars["y"]) == table["customers"].tolist()
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
