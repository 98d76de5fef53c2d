"""Explanation: accuracy, importances, rules re-applied from their text, real-data order."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from custseg.config import ExplainConfig
from custseg.explain import explain_segments

_NUM = r"£?([\d,]+(?:\.\d+)?)"


def _value(text: str) -> float:
    return float(text.replace(",", ""))


def _condition_mask(cond: str, rfm: pd.DataFrame) -> np.ndarray:
    """Apply one written condition, parsed independently of explain.py."""
    cond = cond.strip()
    feature = cond.split(" ")[0]
    col = rfm[feature].to_numpy(dtype=float)
    if m := re.fullmatch(rf"{feature} {_NUM}–{_NUM}(?: days)?", cond):
        return (col >= _value(m[1])) & (col <= _value(m[2]))
    if m := re.fullmatch(rf"{feature} = {_NUM}(?: days)?", cond):
        return col == _value(m[1])
    if m := re.fullmatch(rf"{feature} ≥ {_NUM} and < {_NUM}", cond):
        return (col >= _value(m[1])) & (col < _value(m[2]))
    if m := re.fullmatch(rf"{feature} (≥|≤|<) {_NUM}(?: days)?", cond):
        v = _value(m[2])
        return {"≥": col >= v, "≤": col <= v, "<": col < v}[m[1]]
    raise AssertionError(f"unparseable condition {cond!r}")


def _rule_mask(rule: str, rfm: pd.DataFrame) -> np.ndarray:
    if rule == "all customers":
        return np.ones(len(rfm), dtype=bool)
    # Split on " and " only before a feature name (money ranges contain "and <").
    parts = re.split(r" and (?=recency|frequency|monetary)", rule)
    mask = np.ones(len(rfm), dtype=bool)
    for part in parts:
        mask &= _condition_mask(part, rfm)
    return mask


def _toy(n: int = 1200, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Segments defined by known thresholds, with a little label noise."""
    rng = np.random.default_rng(seed)
    rfm = pd.DataFrame({
        "customer_id": [str(i) for i in range(n)],
        "recency": rng.integers(1, 365, n),
        "frequency": rng.integers(1, 40, n),
        "monetary": rng.uniform(10, 5000, n).round(2),
    })
    seg = np.where(rfm["frequency"] >= 20, "Champions",
                   np.where(rfm["recency"] > 180, "At Risk", "Regulars")).astype(object)
    flip = rng.random(n) < 0.02
    seg[flip] = rng.choice(["Champions", "At Risk", "Regulars"], flip.sum())
    return rfm, seg


def _check_rules(exp, rfm: pd.DataFrame, seg: np.ndarray) -> None:
    """Re-apply every rule from its text: partition, counts, precision and fidelity."""
    assigned = np.full(len(rfm), None, dtype=object)
    covered = np.zeros(len(rfm), dtype=int)
    for row in exp.rules.itertuples():
        mask = _rule_mask(row.rule, rfm)
        covered += mask
        assigned[mask] = row.segment
        assert row.customers == mask.sum()
        if mask.any():
            assert row.precision == pytest.approx((seg[mask] == row.segment).mean())
    assert (covered == 1).all(), "rules must cover every customer exactly once"
    assert exp.fidelity == pytest.approx((assigned == seg).mean())


def test_known_thresholds_are_recovered() -> None:
    rfm, seg = _toy()
    exp = explain_segments(rfm, seg, ExplainConfig(), seed=3)
    assert exp.accuracy > 0.9 and exp.macro_f1 > 0.9
    assert exp.fidelity > 0.95
    assert exp.importances["feature"].tolist()[-1] == "monetary"  # monetary plays no part
    _check_rules(exp, rfm, seg)
    champions = " ".join(exp.rules.loc[exp.rules["segment"] == "Champions", "rule"])
    assert "frequency ≥ 20" in champions
    assert "days" in " ".join(exp.rules["rule"])


def test_columns_sorting_and_determinism() -> None:
    rfm, seg = _toy(600, seed=1)
    a = explain_segments(rfm, seg, ExplainConfig(), seed=5)
    b = explain_segments(rfm, seg, ExplainConfig(), seed=5)
    pd.testing.assert_frame_equal(a.importances, b.importances)
    pd.testing.assert_frame_equal(a.rules, b.rules)
    assert list(a.importances.columns[:5]) == ["feature", "impurity", "impurity_std",
                                               "permutation", "permutation_std"]
    assert a.importances["impurity"].is_monotonic_decreasing
    assert a.importances["impurity"].sum() == pytest.approx(1.0)
    by_perm = explain_segments(rfm, seg, ExplainConfig(rank_by="permutation"), seed=5)
    assert by_perm.importances["permutation"].is_monotonic_decreasing
    assert list(a.rules.columns[:4]) == ["segment", "rule", "customers", "precision"]
    assert "**Champions**" in a.rules_markdown


def test_money_rules_and_sampling_above_max_train() -> None:
    rng = np.random.default_rng(2)
    n = 3000
    rfm = pd.DataFrame({"customer_id": [str(i) for i in range(n)],
                        "recency": rng.integers(1, 365, n), "frequency": rng.integers(1, 5, n),
                        "monetary": rng.lognormal(6, 1, n).round(2)})
    seg = np.where(rfm["monetary"] >= 1000, "Big Spenders", "Regulars").astype(object)
    exp = explain_segments(rfm, seg, ExplainConfig(max_train=800), seed=0, currency="£")
    assert exp.importances["feature"].iloc[0] == "monetary"
    assert "£" in " ".join(exp.rules["rule"])
    _check_rules(exp, rfm, seg)
    assert exp.fidelity > 0.97  # rules fitted on a sample still hold for everyone


def test_real_data_importance_order(seed_rfm: pd.DataFrame) -> None:
    from custseg.cluster import fit_clusters
    from custseg.config import ClusterConfig
    from custseg.segments import name_segments, segment_per_customer

    labels = fit_clusters(seed_rfm, ClusterConfig(k=3, k_min=3, k_max=3), seed=42).labels
    seg = segment_per_customer(name_segments(seed_rfm, labels), labels)
    exp = explain_segments(seed_rfm, seg, ExplainConfig(), seed=42)
    assert exp.importances["feature"].tolist() == ["frequency", "monetary", "recency"]
    assert exp.accuracy > 0.9
    _check_rules(exp, seed_rfm, seg)


def test_permutation_importance_matches_sklearn() -> None:
    """The batched importances equal sklearn's when given the shuffles sklearn made."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.inspection import permutation_importance

    from custseg.explain import _permutation

    rng = np.random.default_rng(4)
    x = rng.normal(size=(500, 3))  # continuous: each shuffle is recovered from its column
    y = np.where(x[:, 0] + 0.5 * x[:, 1] + rng.normal(0, 0.4, 500) > 0, "a", "b")
    forest = RandomForestClassifier(n_estimators=20, random_state=0).fit(x[:350], y[:350])
    x_te, y_te = x[350:], y[350:]
    scored: list[np.ndarray] = []

    def accuracy(model, features, truth):
        scored.append(features.copy())
        return float((model.predict(features) == truth).mean())

    ref = permutation_importance(forest, x_te, y_te, scoring=accuracy, n_repeats=4,
                                 random_state=0)
    shuffles: dict[int, list[np.ndarray]] = {}
    for features in scored:
        moved = np.flatnonzero((features != x_te).any(axis=0))
        if len(moved):  # not the baseline call
            j = int(moved[0])
            order = np.argsort(x_te[:, j])
            shuffles.setdefault(j, []).append(
                order[np.searchsorted(x_te[order, j], features[:, j])])
    replay = iter([p for j in range(3) for p in shuffles[j]])

    class Replay:
        def permutation(self, n: int) -> np.ndarray:
            return next(replay)

    predicted, mean, std = _permutation(forest, x_te, y_te, 4, Replay())
    np.testing.assert_array_equal(predicted, forest.predict(x_te))
    np.testing.assert_allclose(mean, ref.importances_mean, atol=1e-12)
    np.testing.assert_allclose(std, ref.importances_std, atol=1e-12)
    assert mean[0] > mean[1] > abs(mean[2])  # the importances tell the columns apart


def _uneven(n: int, seed: int = 3) -> tuple[pd.DataFrame, np.ndarray]:
    """Customers in four segments of very different sizes, set by thresholds."""
    rng = np.random.default_rng(seed)
    rfm = pd.DataFrame({"customer_id": [str(i) for i in range(n)],
                        "recency": rng.integers(1, 365, n), "frequency": rng.integers(1, 12, n),
                        "monetary": rng.lognormal(6, 1, n).round(2)})
    seg = np.select([rfm["monetary"] > 2_000, rfm["frequency"] > 9, rfm["recency"] > 300],
                    ["Champions", "Loyal", "At Risk"], "Regulars").astype(object)
    return rfm, seg


def test_stratified_sample_is_the_one_the_names_give() -> None:
    from sklearn.model_selection import train_test_split

    from custseg.explain import _train_rows

    _, seg = _uneven(5_000)
    rows = np.arange(len(seg))
    expected, _ = train_test_split(rows, train_size=1_200, random_state=7, stratify=seg)
    np.testing.assert_array_equal(_train_rows(seg, 1_200, 7), np.sort(expected))


def test_large_training_sets_grow_each_tree_on_a_bounded_sample(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from sklearn.ensemble import RandomForestClassifier

    import custseg.explain as explain

    rfm, seg = _uneven(4_000)
    full = explain_segments(rfm, seg, ExplainConfig(), seed=1)
    forests: list[RandomForestClassifier] = []
    shuffled_rows: list[int] = []
    real_permutation = explain._permutation

    class Recording(RandomForestClassifier):
        def fit(self, x: np.ndarray, y: np.ndarray) -> RandomForestClassifier:
            forests.append(self)
            return super().fit(x, y)

    def permutation(forest: RandomForestClassifier, x: np.ndarray, y: np.ndarray,
                    repeats: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        shuffled_rows.append(len(x))
        return real_permutation(forest, x, y, repeats, rng)

    monkeypatch.setattr(explain, "RandomForestClassifier", Recording)
    monkeypatch.setattr(explain, "_permutation", permutation)
    monkeypatch.setattr(explain, "_TREE_ROWS", 600)
    monkeypatch.setattr(explain, "_PERMUTATION_ROWS", 400)
    bounded = explain_segments(rfm, seg, ExplainConfig(), seed=1)
    # 3,000 training rows: every tree's root holds a 600-draw bootstrap sample.
    assert [t.tree_.weighted_n_node_samples[0] for t in forests[0].estimators_] == [600] * 100
    assert shuffled_rows == [400]  # of the 1,000-row hold-out
    # Accuracy is still measured on the whole hold-out of 1,000 customers.
    assert bounded.accuracy * 1_000 == pytest.approx(round(bounded.accuracy * 1_000))
    # The importances barely move and keep their order.
    merged = full.importances.merge(bounded.importances, on="feature")
    assert (merged["impurity_x"] - merged["impurity_y"]).abs().max() < 0.03
    assert (merged["permutation_x"] - merged["permutation_y"]).abs().max() < 0.05
    assert full.importances["feature"].tolist() == bounded.importances["feature"].tolist()
    assert abs(full.accuracy - bounded.accuracy) < 0.02


#: The explanation of the real data's default segments before the explanation's work was
#: bounded (commit 6ef1eda): rule preset → impurity and permutation importance by feature.
_REAL_BEFORE = {
    "seed": {"recency": (0.379957, 0.470237), "monetary": (0.348208, 0.410505),
             "frequency": (0.271835, 0.222039)},
    "default": {"monetary": (0.373811, 0.375978), "recency": (0.359154, 0.439292),
                "frequency": (0.267036, 0.247114)},
}


@pytest.mark.parametrize("rules", ["seed", "default"])
def test_real_data_explanation_is_unchanged(rules: str, request: pytest.FixtureRequest) -> None:
    import custseg

    rfm = request.getfixturevalue(f"{rules}_rfm")
    fitted = custseg.pipeline.model(rfm, custseg.Config())
    table = fitted.explanation.importances
    assert table["feature"].tolist() == list(_REAL_BEFORE[rules])
    np.testing.assert_allclose(table[["impurity", "permutation"]].to_numpy(),
                               list(_REAL_BEFORE[rules].values()), atol=1e-6)
