"""Why customers are in their segment: a surrogate Random Forest and shallow-tree rules.

The forest learns the segment from raw recency, frequency and monetary (trees do not need the
log transform), scored on a stratified hold-out. Importances: impurity (mean decrease in Gini,
what the seed reported) and permutation (accuracy lost on the hold-out when one feature is
shuffled). A shallow decision tree, fitted on every (sampled) customer, becomes plain rules
whose thresholds are rounded to readable values; fidelity is measured on the rules *as
written*, over every customer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier

from custseg.config import ExplainConfig
from custseg.errors import ConfigError, InputError
from custseg.money import money
from custseg.rfm import FEATURES
from custseg.segments import percentile_profile
from custseg.threads import limit

_INT_FEATURES = {"recency": " days", "frequency": ""}
_MONEY_STEPS = (10_000, 5_000, 1_000, 500, 100, 50, 10, 5, 1, 0.5, 0.1, 0.01)
_INT_STEPS = (1_000, 500, 100, 50, 10, 5, 1)
#: Up to this many training rows the forest runs on one thread (joblib start-up costs more).
_SINGLE_THREAD_ROWS = 20_000
#: Above this many training rows each tree grows on a bootstrap sample of this many
#: (``max_samples``) instead of one as large as the training rows: a tree's cost grows with
#: its rows, and the importances move by < 0.01 (75,000 rows: fit 10 s -> 3 s,
#: docs/modelling.md, section 5). Below it, nothing changes.
_TREE_ROWS = 20_000
#: Permutation importance shuffles at most this many hold-out rows (a seeded sample): each
#: row is predicted once per feature and shuffle (16 times), and 10,000 rows measure an
#: accuracy drop to within about 0.005. Accuracy and macro-F1 use the whole hold-out.
_PERMUTATION_ROWS = 10_000


@dataclass
class Explanation:
    """Surrogate-model results."""

    #: Forest accuracy and macro-F1 on the stratified hold-out.
    accuracy: float
    macro_f1: float
    #: Share of customers the written rules place in their own segment.
    fidelity: float
    #: ``feature``, ``impurity``, ``impurity_std``, ``permutation``, ``permutation_std``;
    #: sorted by ``ExplainConfig.rank_by`` (impurity by default), descending.
    importances: pd.DataFrame
    #: ``segment``, ``rule``, ``customers``, ``precision``: one row per rule (tree leaf).
    rules: pd.DataFrame
    rules_markdown: str


@dataclass
class _Cut:
    """One rule condition: ``feature >= value`` (lower) or ``feature < value``."""

    feature: str
    value: float
    lower: bool


def explain_segments(rfm: pd.DataFrame, segments: np.ndarray, cfg: ExplainConfig,
                     seed: int, currency: str = "") -> Explanation:
    """Train the surrogate forest and the rule tree on the segment of each customer.

    Parameters
    ----------
    rfm:
        The RFM table (``recency``, ``frequency``, ``monetary``).
    segments:
        Segment name per RFM row.
    cfg:
        Surrogate-model options.
    seed:
        Seeds the sample, the split, the forest and the permutations.
    currency:
        Written before the monetary thresholds of the rules ("£", "EUR"; "" for none).

    Returns
    -------
    An :class:`Explanation`.
    """
    _check(rfm, segments, cfg)
    x = rfm[list(FEATURES)].to_numpy(dtype=float)
    y = np.asarray(segments).astype(str)
    rng = np.random.default_rng(seed)
    rows = _train_rows(y, cfg.max_train, seed)
    threads = 1 if len(rows) <= _SINGLE_THREAD_ROWS else None
    # OpenMP only: this may run beside the k search, which limits BLAS (no BLAS is used here).
    with limit(threads, "openmp"):
        accuracy, macro_f1, importances = _forest(x[rows], y[rows], cfg, seed, rng)
        min_leaf = max(1, math.ceil(cfg.min_leaf_share * len(rows)))
        tree = DecisionTreeClassifier(max_depth=cfg.rule_depth, random_state=seed,
                                      min_samples_leaf=min_leaf).fit(x[rows], y[rows])
    leaves = _leaves(tree, x[rows])
    assigned = _apply(leaves, x)
    rules = _rules_table(leaves, x, y, _segment_order(rfm, y), currency)
    fidelity = float((assigned == y).mean())
    return Explanation(accuracy=accuracy, macro_f1=macro_f1, fidelity=fidelity,
                       importances=importances, rules=rules,
                       rules_markdown=_markdown(rules, fidelity))


def _check(rfm: pd.DataFrame, segments: np.ndarray, cfg: ExplainConfig) -> None:
    if len(segments) != len(rfm):
        raise InputError(f"{len(segments)} segment names for {len(rfm)} customers; they must "
                         "match one to one.")
    if not 0 < cfg.test_size < 1:
        raise ConfigError(f"test_size={cfg.test_size} must be between 0 and 1.")
    if cfg.rank_by not in ("impurity", "permutation"):
        raise ConfigError(f"rank_by={cfg.rank_by!r}: use 'impurity' or 'permutation'.")
    if len(set(np.asarray(segments).tolist())) < 2:
        raise InputError("Only one segment: there is nothing to explain. Use k ≥ 2.")


def _train_rows(y: np.ndarray, max_train: int, seed: int) -> np.ndarray:
    """All rows, or a stratified sample of ``max_train`` rows above it."""
    rows = np.arange(len(y))
    if len(y) <= max_train:
        return rows
    sample, _ = train_test_split(rows, train_size=max_train, random_state=seed,
                                 stratify=_strata(y))
    return np.sort(sample)


def _strata(y: np.ndarray) -> np.ndarray | None:
    """What to stratify on: each segment's number in sorted order of the names, so the split
    is the one the names themselves give (sklearn numbers the classes in that order) without
    sorting a million strings (1.6 s of a million-customer run); None unless every class has
    at least two members (sklearn's requirement)."""
    codes, _ = pd.factorize(y, sort=True)
    return codes if np.bincount(codes).min() >= 2 else None


# --------------------------------------------------------------------------- forest


def _forest(x: np.ndarray, y: np.ndarray, cfg: ExplainConfig, seed: int,
            rng: np.random.Generator) -> tuple[float, float, pd.DataFrame]:
    """Hold-out accuracy, macro-F1 and the importance table."""
    test_size = max(cfg.test_size, len(np.unique(y)) / len(y))
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_size, random_state=seed,
                                              stratify=_strata(y))
    forest = RandomForestClassifier(
        n_estimators=cfg.n_estimators, max_features=min(cfg.max_features, len(FEATURES)),
        min_samples_leaf=max(1, min(cfg.min_samples_leaf, len(x_tr) // 50)), random_state=seed,
        max_samples=_TREE_ROWS if len(x_tr) > _TREE_ROWS else None,
        # Two workers (the target machine has 2 cores) only when the forest is big enough.
        n_jobs=1 if len(x_tr) <= _SINGLE_THREAD_ROWS else 2,
    ).fit(x_tr, y_tr)
    if len(x_te) <= _PERMUTATION_ROWS:
        predicted, perm_mean, perm_std = _permutation(forest, x_te, y_te,
                                                      cfg.permutation_repeats, rng)
    else:
        predicted = forest.predict(x_te)
        shuffled = np.sort(rng.choice(len(x_te), _PERMUTATION_ROWS, replace=False))
        _, perm_mean, perm_std = _permutation(forest, x_te[shuffled], y_te[shuffled],
                                              cfg.permutation_repeats, rng)
    accuracy = float((predicted == y_te).mean())
    macro_f1 = float(f1_score(y_te, predicted, average="macro"))
    per_tree = np.array([t.feature_importances_ for t in forest.estimators_])
    table = pd.DataFrame({
        "feature": list(FEATURES),
        "impurity": forest.feature_importances_,
        "impurity_std": per_tree.std(axis=0),
        "permutation": perm_mean,
        "permutation_std": perm_std,
    })
    return accuracy, macro_f1, table.sort_values(cfg.rank_by, ascending=False,
                                                 kind="stable").reset_index(drop=True)


def _permutation(forest: RandomForestClassifier, x: np.ndarray, y: np.ndarray, repeats: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The forest's predictions on ``x``, and the permutation importance of each column: the
    mean and standard deviation, over ``repeats`` shuffles, of the accuracy lost when that
    column is shuffled (``sklearn.inspection.permutation_importance`` with accuracy).

    Kept instead of sklearn's function, which predicts each shuffled copy in a call of its
    own: every forest call costs a pass of per-tree overhead whatever its size, so the
    hold-out and all its shuffled copies go through the forest in one call (0.07 s against
    0.25 s on the real data, docs/benchmarks.md; a test checks the figures against sklearn).
    """
    n, width = x.shape
    repeats = max(repeats, 1)
    copies = np.repeat(x[None, :, :], width * repeats, axis=0)  # copy j·repeats + r: column j
    for j in range(width):
        for r in range(repeats):
            copies[j * repeats + r, :, j] = x[rng.permutation(n), j]
    predicted = forest.predict(np.concatenate([x, copies.reshape(-1, width)]))
    accuracy = (predicted.reshape(-1, n) == y).mean(axis=1)  # the unshuffled hold-out first
    drops = (accuracy[0] - accuracy[1:]).reshape(width, repeats)
    return predicted[:n], drops.mean(axis=1), drops.std(axis=1)


# --------------------------------------------------------------------------- rules


def _leaves(tree: DecisionTreeClassifier, x: np.ndarray) -> list[tuple[list[_Cut], str]]:
    """Root-to-leaf paths with readable cuts; sibling leaves of one segment merged."""
    t = tree.tree_
    classes = tree.classes_
    columns = [np.unique(x[:, j]) for j in range(x.shape[1])]

    def walk(node: int) -> list[tuple[list[_Cut], str]]:
        if t.children_left[node] == -1:
            return [([], str(classes[int(np.argmax(t.value[node][0]))]))]
        left, right = walk(t.children_left[node]), walk(t.children_right[node])
        if (len(left) == len(right) == 1 and not left[0][0] and not right[0][0]
                and left[0][1] == right[0][1]):
            return left
        feature = FEATURES[t.feature[node]]
        cut = _round_cut(columns[t.feature[node]], float(t.threshold[node]), feature)
        return ([([_Cut(feature, cut, False), *c], s) for c, s in left]
                + [([_Cut(feature, cut, True), *c], s) for c, s in right])

    return walk(0)


def _round_cut(values: np.ndarray, threshold: float, feature: str) -> float:
    """The roundest cut c in (a, b], where a ≤ threshold < b are neighbouring data values.

    ``x < c`` then selects exactly the training rows the tree sends left (x ≤ threshold).
    """
    i = np.searchsorted(values, threshold, side="right")
    a = values[i - 1] if i > 0 else threshold
    b = values[i] if i < len(values) else threshold + 1
    for step in (_INT_STEPS if feature in _INT_FEATURES else _MONEY_STEPS):
        cut = round(math.floor(a / step) * step + step, 2)
        if a < cut <= b:
            return cut
    return float(b)


def _bounds(cuts: list[_Cut]) -> dict[str, tuple[float | None, float | None]]:
    """Per feature (in order of first use), the tightest lower and upper cut."""
    out: dict[str, tuple[float | None, float | None]] = {}
    for cut in cuts:
        lo, hi = out.get(cut.feature, (None, None))
        if cut.lower:
            lo = cut.value if lo is None else max(lo, cut.value)
        else:
            hi = cut.value if hi is None else min(hi, cut.value)
        out[cut.feature] = (lo, hi)
    return out


def _leaf_mask(cuts: list[_Cut], x: np.ndarray) -> np.ndarray:
    """Customers matching every condition of one rule."""
    mask = np.ones(len(x), dtype=bool)
    for cut in cuts:
        col = x[:, FEATURES.index(cut.feature)]
        mask &= (col >= cut.value) if cut.lower else (col < cut.value)
    return mask


def _apply(leaves: list[tuple[list[_Cut], str]], x: np.ndarray) -> np.ndarray:
    """The segment the written rules give each customer (the leaves partition the space)."""
    assigned = np.full(len(x), "", dtype=object)
    for cuts, segment in leaves:
        assigned[_leaf_mask(cuts, x)] = segment
    return assigned


def rule_text(cuts: list[_Cut], currency: str = "") -> str:
    """Plain text of one rule, e.g. ``frequency ≥ 24 and recency ≤ 30 days``."""
    parts = [_condition(f, lo, hi, currency) for f, (lo, hi) in _bounds(cuts).items()]
    return " and ".join(parts) if parts else "all customers"


def _condition(feature: str, lo: float | None, hi: float | None, currency: str) -> str:
    if feature in _INT_FEATURES:
        unit = _INT_FEATURES[feature]
        # Integer features: x < c is x ≤ c − 1.
        low = None if lo is None else math.ceil(lo)
        high = None if hi is None else math.ceil(hi) - 1
        if low is not None and high is not None:
            return f"{feature} = {low}{unit}" if low == high else f"{feature} {low}–{high}{unit}"
        return f"{feature} ≥ {low}{unit}" if low is not None else f"{feature} ≤ {high}{unit}"
    if lo is not None and hi is not None:
        return f"{feature} ≥ {_money(lo, currency)} and < {_money(hi, currency)}"
    return (f"{feature} ≥ {_money(lo, currency)}" if lo is not None
            else f"{feature} < {_money(hi, currency)}")


def _money(value: float, currency: str) -> str:
    """A threshold: whole amounts without decimals (£500), others with two (£0.50)."""
    return money(value, currency, 0 if float(value).is_integer() else 2)


def _segment_order(rfm: pd.DataFrame, y: np.ndarray) -> list[str]:
    """Segments from the most to the least valuable (the segment table's order)."""
    return percentile_profile(rfm, y).sort_values("value", ascending=False).index.tolist()


def _rules_table(leaves: list[tuple[list[_Cut], str]], x: np.ndarray, y: np.ndarray,
                 order: list[str], currency: str) -> pd.DataFrame:
    """One row per rule: segment, text, customers covered and the share truly in it."""
    rows = []
    for cuts, segment in leaves:
        mask = _leaf_mask(cuts, x)
        rows.append({
            "segment": segment,
            "rule": rule_text(cuts, currency),
            "customers": int(mask.sum()),
            "precision": float((y[mask] == segment).mean()) if mask.any() else float("nan"),
        })
    rank = {name: i for i, name in enumerate(order)}
    table = pd.DataFrame(rows)
    table["_rank"] = table["segment"].map(rank)
    table = table.sort_values(["_rank", "customers"], ascending=[True, False], kind="stable")
    return table.drop(columns="_rank").reset_index(drop=True)


def _markdown(rules: pd.DataFrame, fidelity: float) -> str:
    lines = [f"- **{r.segment}**: {r.rule} ({r.customers:,} customers, {r.precision:.0%} "
             "of them in this segment)" for r in rules.itertuples()]
    lines.append(f"\nThese rules place {fidelity:.1%} of customers in their own segment.")
    return "\n".join(lines)
