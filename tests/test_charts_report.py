"""Charts (custseg.charts) and the HTML report (custseg.report), on hand-built frames."""

from __future__ import annotations

import re
import types

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from plotly.offline import get_plotlyjs

from custseg import charts, report

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
        config=types.SimpleNamespace(seed=42),
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


def _all_figures(res) -> dict[str, go.Figure]:
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
    return figs


# --------------------------------------------------------------------------- charts


def test_every_chart_has_a_title_and_titled_axes(result):
    figs = _all_figures(result)
    assert len(figs) == 11
    for name, fig in figs.items():
        assert isinstance(fig, go.Figure), name
        assert fig.layout.title.text, name
        layout = fig.to_plotly_json()["layout"]
        axes = [k for k in layout if re.fullmatch(r"[xy]axis\d*", k)]
        assert {"xaxis", "yaxis"} <= set(axes), name
        for axis in axes:
            assert layout[axis].get("title", {}).get("text"), f"{name}.{axis} has no title"


def test_units_in_axis_titles(result):
    fig = charts.anomaly_scatter(result.rfm, "recency", "monetary")
    assert "days" in fig.layout.xaxis.title.text
    assert "£" in fig.layout.yaxis.title.text and fig.layout.yaxis.tickprefix == "£"
    fig = charts.anomaly_scatter(result.rfm, "recency", "frequency")
    assert "orders" in fig.layout.yaxis.title.text


def _segment_colors(fig: go.Figure) -> dict[str, set[str]]:
    """segment name -> colours it is drawn with, from traces named after a segment or from
    per-bar colour lists whose x values are segment names."""
    seen: dict[str, set[str]] = {}
    for trace in fig.data:
        color = trace.marker.color
        if trace.name in SEGMENTS and isinstance(color, str):
            seen.setdefault(trace.name, set()).add(color)
        elif isinstance(color, list | tuple) and trace.x is not None:
            for x, col in zip(trace.x, color, strict=True):
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
    lines = [s for s in fig.layout.shapes if s.type == "line"]
    assert lines and all(s.x0 == s.x1 == 3 for s in lines)
    assert "chosen k = 3" in fig.layout.title.text
    rejected = [t for t in fig.data if t.name == "rejected k"]
    assert rejected and all(t.marker.color == charts._GREY for t in rejected)
    assert sorted(rejected[0].x) == sorted(table.loc[~table["eligible"], "k"])


def test_pca_axis_titles_show_explained_variance(result):
    c = result.clustering
    fig = charts.pca_scatter(c.pca, result.rfm, (0.6234, 0.251), c.pca_loadings)
    assert "62.3%" in fig.layout.xaxis.title.text and "25.1%" in fig.layout.yaxis.title.text
    plotted = sorted(i for t in fig.data for i in t.customdata[:, 0])
    assert plotted == sorted(result.rfm["customer_id"])
    assert {a.text for a in fig.layout.annotations} == {"recency", "frequency", "monetary"}


def test_anomaly_scatter_highlights_outliers_with_reason_and_log_axes(result):
    rfm = result.rfm
    fig = charts.anomaly_scatter(rfm, "frequency", "monetary")
    outlier = next(t for t in fig.data if t.name == "outlier")
    assert outlier.marker.symbol not in (None, "circle")
    assert set(outlier.customdata[:, 0]) == set(rfm.loc[rfm["is_anomaly"], "customer_id"])
    assert all("monetary far above" in r for r in outlier.customdata[:, 4])
    assert "customdata[4]" in outlier.hovertemplate
    # Lognormal money is skewed: log axis; uniform recency is not.
    assert fig.layout.yaxis.type == "log"
    assert charts.anomaly_scatter(rfm, "recency", "monetary").layout.xaxis.type != "log"
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
    assert "sample" in fig.layout.title.text and "400 outliers" in fig.layout.title.text
    points = sum(len(t.x) for t in fig.data)
    assert points == charts.SAMPLE_SIZE + 400
    outlier = next(t for t in fig.data if t.name == "outlier")
    assert set(outlier.customdata[:, 0]) == set(rfm.loc[rfm["is_anomaly"], "customer_id"])
    pca, explained, _ = _pca(rfm)
    fig = charts.pca_scatter(pca, rfm, explained, seed=5)
    assert sum(len(t.x) for t in fig.data) == charts.SAMPLE_SIZE + 400
    assert "sample" in fig.layout.title.text


def test_waterfall_accounts_for_every_row():
    report_ = _cleaning()
    fig = charts.cleaning_waterfall(report_)
    trace = fig.data[0]
    assert list(trace.measure) == ["absolute", "relative", "relative", "relative", "total"]
    assert trace.y[0] == report_.rows_in
    assert trace.y[0] + sum(trace.y[1:-1]) == report_.rows_kept
    assert list(trace.x)[1:-1] == ["missing customer", "cancellation", "country"]
    assert "10,000" in fig.layout.title.text and "7,250" in fig.layout.title.text
    # A to_dict()-style mapping works too.
    as_dict = charts.cleaning_waterfall(vars(report_))
    assert list(as_dict.data[0].y) == list(trace.y)


def test_distributions_count_every_customer_per_segment(result):
    rfm = result.rfm
    fig = charts.rfm_distributions(rfm)
    expected = rfm["segment"].value_counts()
    for axis in ("x", "x2", "x3"):
        for name in SEGMENTS:
            bars = [t for t in fig.data if t.xaxis == axis and t.name == name]
            assert sum(int(sum(t.y)) for t in bars) == expected[name], (axis, name)


def test_flagged_kinds_counts(result):
    fig = charts.flagged_kinds(result.flagged_transactions)
    counts = dict(zip(fig.data[0].x, fig.data[0].y, strict=True))
    assert counts == result.flagged_transactions["kind"].value_counts().to_dict()


# --------------------------------------------------------------------------- report


def test_report_has_every_section_and_toc(result):
    page = report.render_html(result)
    for sid, title in report.SECTIONS:
        assert f'<section id="{sid}">' in page
        assert f'href="#{sid}"' in page
        assert report.html.escape(title) in page
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
