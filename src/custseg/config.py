"""Every knob of a custseg run, with its default, in frozen (hashable) dataclasses.

Frozen dataclasses double as cache keys for the dashboard: a stage is re-run only when
the part of the configuration it depends on changes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

Transform = Literal["log1p", "none"]
Detector = Literal["isolation_forest", "lof"]
Engine = Literal["duckdb", "spark"]

#: UCI Online Retail's stock codes that are not products: postage, fees, manual corrections,
#: samples, discounts. They belong to the ``online_retail`` data preset, not to the defaults.
NON_PRODUCT_CODES: tuple[str, ...] = (
    "POST",
    "DOT",
    "M",
    "C2",
    "D",
    "S",
    "B",
    "BANK CHARGES",
    "AMAZONFEE",
    "CRUK",
    "PADS",
)
#: Online Retail's prefixes of non-product stock codes (gift vouchers, eBay/dotcom listings).
NON_PRODUCT_PREFIXES: tuple[str, ...] = ("GIFT_", "DCGS")


@dataclass(frozen=True)
class DataPreset:
    """Settings that are true of one known export only, applied when that export is recognised
    (or asked for by name) and never otherwise."""

    name: str
    title: str
    currency: str
    non_product_codes: tuple[str, ...]
    non_product_prefixes: tuple[str, ...]


#: Known exports, by name. ``none`` is the neutral choice: no currency, no non-product codes.
DATA_PRESETS: dict[str, DataPreset] = {
    "none": DataPreset("none", "no preset", "", (), ()),
    "online_retail": DataPreset("online_retail", "UCI Online Retail (I or II)", "£",
                                NON_PRODUCT_CODES, NON_PRODUCT_PREFIXES),
}


@dataclass(frozen=True)
class ReadConfig:
    """How the input is read, where the data cannot settle it with certainty."""

    #: Field delimiter of delimited text (one character: ";", "|", a tab…); None lets DuckDB's
    #: sniffer find it.
    delimiter: str | None = None
    #: Decimal separator of text numbers: "." or ","; None detects it (and refuses when the
    #: data cannot tell).
    decimal: str | None = None
    #: strftime-style format of text dates (e.g. "%m/%d/%Y %H:%M"); None detects it, and
    #: refuses when more than one date order reads every value.
    date_format: str | None = None
    #: A workbook whose sheet or shared strings would inflate to more than this many bytes is
    #: refused before reading (a 12 MB file can hide gigabytes of XML).
    max_excel_bytes: int = 2 * 10**9
    #: Read a large .xlsx sheet in parts on every core (:mod:`custseg.xlsx`); False reads it
    #: with calamine alone, on one core.
    parallel_excel: bool = True


@dataclass(frozen=True)
class CleaningConfig:
    """Which cleaning rules run, with their parameters.

    Rules run in the order of :data:`custseg.clean.RULES`; a row dropped by several rules is
    counted once, under the first.
    """

    missing_customer: bool = True
    missing_values: bool = True
    cancellations: bool = True
    adjustments: bool = True
    non_positive: bool = True
    non_product: bool = True
    duplicates: bool = True
    #: Countries to keep (exact names); empty tuple keeps every country.
    countries: tuple[str, ...] = ()
    #: Drop lines whose total (quantity × unit price) is above this; None turns it off.
    max_line_total: float | None = 500.0
    #: Drop lines whose quantity is above this; None turns it off.
    max_quantity: float | None = 100.0
    #: Stock codes (exact) and prefixes that are not products; None takes the data preset's
    #: (none unless a known export is recognised, see :data:`DATA_PRESETS`).
    non_product_codes: tuple[str, ...] | None = None
    non_product_prefixes: tuple[str, ...] | None = None
    #: Lines dated after this day are dropped (``future_date``); None means today (UTC).
    today: date | None = None

    @classmethod
    def preset(cls, name: str) -> CleaningConfig:
        """Return a named rule preset: ``default`` or ``seed`` (the seed report's rules only:
        United Kingdom only, no cancellations, no missing values, the two line limits)."""
        if name == "default":
            return cls()
        if name == "seed":
            return cls(
                countries=("United Kingdom",),
                adjustments=False,
                non_positive=False,
                non_product=False,
                duplicates=False,
            )
        from custseg.errors import ConfigError

        raise ConfigError(f"Unknown rule preset {name!r}. Use 'default' or 'seed'.")


@dataclass(frozen=True)
class RFMConfig:
    """RFM table options."""

    #: Snapshot date for recency; None means latest invoice date + 1 day.
    as_of: date | None = None


@dataclass(frozen=True)
class ClusterConfig:
    """Clustering options."""

    #: Fixed number of clusters; None chooses k automatically.
    k: int | None = None
    k_min: int = 2
    k_max: int = 10
    transform: Transform = "log1p"
    #: A candidate k is rejected when its smallest cluster holds fewer customers than this share.
    min_cluster_share: float = 0.05
    #: Silhouette is exact up to this many customers and sampled (with the seed) above it.
    silhouette_sample: int = 10_000
    #: The k search (every K-Means run per candidate k, stability, silhouette,
    #: Calinski–Harabasz, Davies–Bouldin, shares) uses every customer up to this many and a
    #: seeded sample of this many above it; the chosen k is then fitted on every customer, and
    #: the reason says so (docs/modelling.md, section 2).
    k_search_max: int = 20_000
    #: Above this many customers, the k search fits K-Means on a seeded sample of
    #: ``search_sample`` customers and assigns everyone to the nearest centre; the chosen k is
    #: then refined with full-data Lloyd iterations. Measured faster and closer to full K-Means
    #: than MiniBatchKMeans (docs/modelling.md), so mini-batch is not used.
    minibatch_above: int = 200_000
    search_sample: int = 50_000
    #: K-Means runs per k (one k-means++ start each; the best inertia wins).
    n_init: int = 10
    #: A candidate k is rejected when its runs agree less than this (mean adjusted Rand index
    #: of the other runs against the best one).
    min_stability: float = 0.7
    #: (multiple, minimum days): a customer of a high-value segment (Champions, Loyal, Big
    #: Spenders) is lapsed, and gets the win-back action, when their recency is above
    #: max(multiple × their usual gap between orders, minimum days) (custseg.actions;
    #: docs/modelling.md, section 4).
    lapse_after: tuple[float, float] = (3.0, 60.0)


@dataclass(frozen=True)
class ExplainConfig:
    """Surrogate-model options."""

    #: 100 trees: importances move < 0.01 from 200 trees at half the time (docs/modelling.md).
    n_estimators: int = 100
    #: Forest leaves hold at least this many customers (capped at 2% of the training rows):
    #: less noise in the importances and faster trees.
    min_samples_leaf: int = 10
    test_size: float = 0.25
    rule_depth: int = 3
    #: Above this many customers, the surrogate models train on a stratified sample.
    max_train: int = 200_000
    #: Features tried per split. With three features, sklearn's "sqrt" means one random
    #: feature per split, which flattens impurity importances towards 1/3 each.
    max_features: int = 2
    #: Which importance orders the importance table: "impurity" (what the seed reported) or
    #: "permutation" (accuracy lost on the hold-out when a feature is shuffled).
    rank_by: Literal["impurity", "permutation"] = "impurity"
    permutation_repeats: int = 5
    #: Rule-tree leaves hold at least this share of the customers (no one-customer rules).
    min_leaf_share: float = 0.01


@dataclass(frozen=True)
class AnomalyConfig:
    """Customer and transaction anomaly options."""

    contamination: float = 0.02
    detector: Detector = "isolation_forest"
    # Transaction thresholds are robust z-scores on a log scale: (log value − median) ÷ MAD,
    # with the MAD floored (below); see docs/anomalies.md for how they were chosen.
    #: Unit price vs its product's usual price (both directions); 8 × floor 0.2 ≈ 5× or 1/5.
    price_z: float = 8.0
    #: Quantity above its product's usual quantity; 5 × floor 0.5 ≈ 12× for steady products.
    quantity_z: float = 5.0
    #: Invoice total above the median invoice total.
    invoice_z: float = 6.0
    #: Cancellation line value above the median cancellation line value.
    cancellation_z: float = 6.0
    #: Stock codes with fewer lines than this are not judged on price; their quantities are
    #: judged against all products' lines instead.
    min_product_lines: int = 10
    #: Floor on the MAD of log values (price, invoice total, cancellation value), so that
    #: constant-price products still get a finite z: 0.2 ≈ a 22% spread.
    mad_floor: float = 0.2
    #: Floor on the MAD of log quantity (quantities vary more than prices).
    quantity_mad_floor: float = 0.5
    #: LOF neighbours.
    lof_neighbors: int = 20
    #: Above this many customers, LOF fits on a seeded sample of this size and scores the
    #: others as new points (exact LOF is too slow at a million customers).
    lof_max_fit: int = 50_000


@dataclass(frozen=True)
class CLVConfig:
    """Customer lifetime value: BG/NBD + Gamma-Gamma (custseg.clv; docs/clv.md)."""

    #: Estimate lifetime value at all (``--no-clv`` turns it off).
    enabled: bool = True
    #: Days ahead of the expected number of purchases.
    horizon_days: int = 90
    #: Months of lifetime value (a month is 30 days, as lifetimes counts them).
    months: int = 12
    #: Monthly discount rate of future spend.
    discount_rate: float = 0.01
    #: The validation holds out the last ``min(holdout_days, holdout_share × period)`` days.
    holdout_days: int = 90
    holdout_share: float = 0.25
    #: A shorter hold-out than this says too little: lifetime value is then not estimated.
    min_holdout_days: int = 14
    #: Fewer repeat customers than this (in the calibration part) cannot fit the models.
    min_repeat_customers: int = 20
    #: Penalizers tried in turn until a fit converges (lifetimes' ``penalizer_coef``).
    penalizers: tuple[float, ...] = (0.0, 0.001, 0.01, 0.1)
    #: Optimiser tolerances tried with each penalizer, before the next penalizer.
    tolerances: tuple[float, ...] = (1e-7, 1e-6, 1e-5)
    #: The model "does not discriminate" when at least ``alive_share`` of customers have a
    #: P(alive) above ``alive_level``.
    alive_level: float = 0.9
    alive_share: float = 0.95


@dataclass(frozen=True)
class Config:
    """All settings of a run: ``Config()`` is the default, keyword arguments change it."""

    read: ReadConfig = field(default_factory=ReadConfig)
    cleaning: CleaningConfig = field(default_factory=CleaningConfig)
    rfm: RFMConfig = field(default_factory=RFMConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    explain: ExplainConfig = field(default_factory=ExplainConfig)
    anomalies: AnomalyConfig = field(default_factory=AnomalyConfig)
    clv: CLVConfig = field(default_factory=CLVConfig)
    seed: int = 42
    #: DuckDB threads; None lets DuckDB use every core.
    threads: int | None = None
    #: DuckDB memory limit; above it DuckDB spills to disk. 1GB keeps a 10M-line run near
    #: 1.2 GB peak RSS and is no slower (measured in docs/benchmarks.md); None lets DuckDB
    #: take 80% of RAM.
    memory_limit: str | None = "1GB"
    #: Folder DuckDB spills to above the memory limit; None: ``custseg-duckdb`` in the
    #: system's temporary directory. Spilling a large run can take about the input's size.
    temp_dir: str | None = None
    #: Currency written before money in every text, chart and table ("£", "EUR", …); None
    #: takes the data preset's, which is no symbol unless a known export is recognised.
    currency: str | None = None
    #: Data preset: "auto" (applied when the file is recognised), "none", or a name from
    #: :data:`DATA_PRESETS`.
    preset: str = "auto"
    #: Engine of the transaction-scale stages (reading, cleaning, RFM, transaction anomalies,
    #: product mix): "duckdb" (embedded) or "spark" (custseg.spark; docs/scale.md, Spark).
    engine: Engine = "duckdb"
    #: Spark master for engine="spark": local[*] when None, spark://host:7077, yarn, k8s://…,
    #: or a Spark Connect URL sc://host:15002. A session passed to pipeline.run wins.
    spark_master: str | None = None

    def with_preset(self, name: str | None) -> Config:
        """This configuration with the data preset ``name`` (None: no preset) filling what
        is left unset: the currency and the non-product stock codes."""
        if name not in (None, *DATA_PRESETS):
            from custseg.errors import ConfigError

            raise ConfigError(f"Unknown data preset {name!r}. Use auto, "
                              f"{', '.join(DATA_PRESETS)}.")
        preset = DATA_PRESETS[name or "none"]
        cleaning = self.cleaning
        if cleaning.non_product_codes is None:
            cleaning = dataclasses.replace(cleaning, non_product_codes=preset.non_product_codes)
        if cleaning.non_product_prefixes is None:
            cleaning = dataclasses.replace(cleaning,
                                           non_product_prefixes=preset.non_product_prefixes)
        currency = preset.currency if self.currency is None else self.currency
        return dataclasses.replace(self, cleaning=cleaning, currency=currency)

    def replace(self, **changes: object) -> Config:
        """Return a copy with some top-level fields replaced."""
        return dataclasses.replace(self, **changes)


def parse_day(value: date | str | None, setting: str) -> date | None:
    """A day given as a date or as "YYYY-MM-DD" text (None stays None); a ConfigError
    naming ``setting`` otherwise."""
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        from custseg.errors import ConfigError

        raise ConfigError(f"{setting}: {value!r} is not a date like 2011-12-10.") from None
