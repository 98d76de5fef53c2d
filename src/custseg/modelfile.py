"""A saved segmentation as plain JSON: writing it, and reading it back strictly.

The file holds numbers and strings only: the transform's name, the scaling, the centres, the
names and actions, the settings, the training customers' ranges and, when a run wrote it
(``custseg run --save-model``), the cleaning and RFM settings, the as-of date and a
fingerprint of the data. It is never pickle: reading one runs no code from it. Reading
checks every field's type and shape against :data:`VERSION`'s layout and refuses anything
else (an unknown format or version, a missing or unexpected field, a value of the wrong
type) with a message naming the file and the field.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from custseg.config import CleaningConfig
from custseg.errors import ModelFileError
from custseg.rfm import FEATURES

if TYPE_CHECKING:
    from custseg.pipeline import Result
    from custseg.segmenter import Segmenter

#: The ``format`` every custseg model file carries.
FORMAT = "custseg-segmentation"
#: The layout this custseg writes and reads.
VERSION = 1
#: Larger files are refused before parsing: a model is a few kilobytes.
MAX_BYTES = 5_000_000
#: At most this many segments (``k_max`` is far below it).
MAX_SEGMENTS = 100
#: Longest text field (an action is a few sentences; the k reason a paragraph or two).
MAX_TEXT = 20_000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class DataContext:
    """What a run knew about its data beyond the segments: how to read and clean new data the
    same way, and a fingerprint of the data the model was fitted on."""

    cleaning: CleaningConfig
    #: ``--as-of`` of the run (None: the data's own snapshot).
    as_of: date | None
    #: The snapshot recency was measured from.
    snapshot: datetime
    #: The data preset the run recognised (its codes are in ``cleaning`` already).
    preset: str | None
    currency: str
    #: ClusterConfig.lapse_after of the run: when a high-value customer counts as lapsed.
    lapse_after: tuple[float, float]
    #: ``source`` (file name), ``bytes`` (None for a frame), ``rows``, ``rows_kept``,
    #: ``customers`` and ``rfm_sha256`` (:func:`rfm_fingerprint`).
    fingerprint: dict[str, Any]


@dataclass(frozen=True)
class SavedModel:
    """A model file read back."""

    segmenter: Segmenter
    custseg_version: str
    created: str
    data: DataContext | None


# --------------------------------------------------------------------------- writing


def run_context(result: Result) -> dict[str, Any]:
    """The ``data`` section of a run's model file, from its :class:`custseg.pipeline.Result`."""
    config, source = result.config, result.source
    size = None
    if source.path is not None and Path(source.path).is_file():
        size = Path(source.path).stat().st_size
    return {
        "cleaning": _cleaning_to_json(config.cleaning),
        "as_of": None if config.rfm.as_of is None else config.rfm.as_of.isoformat(),
        "snapshot": result.snapshot.isoformat(),
        "preset": source.preset,
        "currency": config.currency or "",
        "lapse_after": [float(v) for v in config.cluster.lapse_after],
        "fingerprint": {
            "source": None if source.path is None else Path(source.path).name,
            "bytes": size,
            "rows": int(result.cleaning.rows_in),
            "rows_kept": int(result.cleaning.rows_kept),
            "customers": len(result.rfm),
            "rfm_sha256": rfm_fingerprint(result.rfm),
        },
    }


def rfm_fingerprint(table: pd.DataFrame) -> str:
    """SHA-256 of the customers' ids and R/F/M values, in customer order: the same data gives
    the same fingerprint whatever file or row order it came from."""
    ordered = table.sort_values("customer_id", kind="stable")
    digest = hashlib.sha256()
    digest.update("\n".join(ordered["customer_id"].astype(str)).encode("utf-8"))
    for feature in FEATURES:
        digest.update(ordered[feature].to_numpy(dtype="<f8").tobytes())
    return digest.hexdigest()


def to_json(segmenter: Segmenter, context: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The model file's content for a fitted Segmenter."""
    from custseg import __version__

    ranges = segmenter.feature_ranges_
    return {
        "format": FORMAT,
        "version": VERSION,
        "custseg_version": __version__,
        "created": datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "features": list(FEATURES),
        "transform": segmenter.feature_transform,
        "settings": {name: _plain(value) for name, value in segmenter.get_params().items()},
        "scaler": {"mean": _floats(segmenter.scaler_mean_),
                   "scale": _floats(segmenter.scaler_scale_)},
        "centroids": [_floats(row) for row in segmenter.cluster_centers_],
        "segments": [{"cluster": c, "name": n, "opportunity": o, "action": a}
                     for c, (n, o, a) in enumerate(zip(segmenter.segment_names_,
                                                       segmenter.opportunities_,
                                                       segmenter.actions_, strict=True))],
        "reason": segmenter.reason_,
        "segment_table": _records(segmenter.segments_, _SEGMENT_COLUMNS),
        "k_table": _records(segmenter.k_table_, _K_COLUMNS),
        "training": {"customers": int(segmenter.n_customers_),
                     "ranges": {f: {c: float(ranges.loc[f, c]) for c in _RANGE_KEYS}
                                for f in FEATURES}},
        "data": None if context is None else dict(context),
    }


def dumps(segmenter: Segmenter, context: Mapping[str, Any] | None = None) -> str:
    """The model file's text (what :func:`write` writes; the dashboard offers it too)."""
    return json.dumps(to_json(segmenter, context), indent=1, ensure_ascii=False,
                      allow_nan=False) + "\n"


def write(path: str | Path, segmenter: Segmenter,
          context: Mapping[str, Any] | None = None) -> Path:
    """Write ``segmenter`` (and a run's ``context``) to ``path`` as JSON."""
    path = Path(path)
    path.write_text(dumps(segmenter, context), encoding="utf-8")
    return path


def _plain(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def _floats(values: Any) -> list[float]:
    return [float(v) for v in np.asarray(values, dtype=float)]


def _records(table: pd.DataFrame, columns: Mapping[str, str]) -> list[dict[str, Any]]:
    """Rows as plain dicts; NaN (a silhouette with one cluster) becomes null."""
    rows = []
    for row in table[list(columns)].itertuples(index=False):
        record = {}
        for (name, kind), value in zip(columns.items(), row, strict=True):
            if kind == "text":
                record[name] = str(value)
            elif kind == "bool":
                record[name] = bool(value)
            elif kind == "int":
                record[name] = int(value)
            else:
                record[name] = None if pd.isna(value) else float(value)
        rows.append(record)
    return rows


# --------------------------------------------------------------------------- reading


def read(path: str | Path) -> SavedModel:
    """Read and check a model file.

    Raises
    ------
    ModelFileError
        When the file is missing, too large, not UTF-8 JSON, not a custseg model, of an
        unknown version, or has a field of the wrong type or shape.
    """
    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise ModelFileError(f"Model file {where} does not exist. Save one with "
                             "`custseg run FILE --save-model {where}`.")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise ModelFileError(f"{where} is {size:,} bytes: a custseg model file is a few "
                             f"kilobytes (at most {MAX_BYTES:,}). Is it the right file?")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ModelFileError(f"Model file {where} cannot be read ({exc.strerror or exc}). "
                             "Check its permissions.") from exc
    try:
        text = raw.decode("utf-8")
        content = json.loads(text, object_pairs_hook=_no_duplicates,
                             parse_constant=_no_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, _Refused) as exc:
        raise ModelFileError(f"{where} is not a custseg model file: it is not plain JSON "
                             f"({exc}). Model files are written by `custseg run "
                             "--save-model` or Segmenter.save; nothing else is read.") from exc
    return from_json(content, where)


class _Refused(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        twice = sorted({k for k in keys if keys.count(k) > 1})
        raise _Refused(f"the field {twice[0]!r} appears twice")
    return dict(pairs)


def _no_constant(name: str) -> Any:
    raise _Refused(f"{name} is not a number JSON allows")


def from_json(content: Any, where: str = "the model") -> SavedModel:
    """Check a parsed model file and build the :class:`SavedModel`."""
    from custseg.segmenter import Segmenter

    check = _Checker(where)
    top = check.obj(content, "", _TOP_KEYS)
    if top.get("format") != FORMAT:
        raise ModelFileError(f"{where} is not a custseg model file (its 'format' is "
                             f"{top.get('format')!r}, not {FORMAT!r}).")
    version = top.get("version")
    if version != VERSION:
        newer = isinstance(version, int) and not isinstance(version, bool) and version > VERSION
        hint = ("a newer custseg wrote it: upgrade custseg to read it" if newer else
                "save the model again with this custseg")
        raise ModelFileError(f"{where} is a custseg model of version {version!r}; this custseg "
                             f"reads version {VERSION} only ({hint}).")
    check.exact(top, "", _TOP_KEYS)
    custseg_version = check.text(top["custseg_version"], "custseg_version")
    created = check.text(top["created"], "created")
    if check.seq(top["features"], "features", check.text) != list(FEATURES):
        raise ModelFileError(f"{where}: 'features' must be {list(FEATURES)}.")
    from custseg.cluster import TRANSFORMS

    transform = check.choice(top["transform"], "transform", TRANSFORMS)
    settings = _settings(check, top["settings"], transform)
    mean = check.vector(top["scaler"], "scaler", "mean")
    scale = check.vector(top["scaler"], "scaler", "scale")
    if (scale <= 0).any():
        raise ModelFileError(f"{where}: 'scaler.scale' must be positive numbers.")
    centroids = check.seq(top["centroids"], "centroids",
                          lambda v, w: check.seq(v, w, check.number, length=len(FEATURES)))
    k = len(centroids)
    if not 2 <= k <= MAX_SEGMENTS:
        raise ModelFileError(f"{where}: 'centroids' holds {k} centres; a model has 2 to "
                             f"{MAX_SEGMENTS}.")
    segments = check.seq(top["segments"], "segments",
                         lambda v, w: check.record(v, w, _SEGMENT_KEYS), length=k)
    if [s["cluster"] for s in segments] != list(range(k)):
        raise ModelFileError(f"{where}: 'segments' must list clusters 0 to {k - 1} in order.")
    names = [s["name"] for s in segments]
    if len(set(names)) != k or not all(n.strip() for n in names):
        raise ModelFileError(f"{where}: the segment names must be {k} different, non-empty "
                             f"names; the file has {names}.")
    reason = check.text(top["reason"], "reason")
    segment_table = pd.DataFrame(check.seq(top["segment_table"], "segment_table",
                                           lambda v, w: check.record(v, w, _SEGMENT_COLUMNS),
                                           length=k), columns=list(_SEGMENT_COLUMNS))
    k_table = pd.DataFrame(check.seq(top["k_table"], "k_table",
                                     lambda v, w: check.record(v, w, _K_COLUMNS)),
                           columns=list(_K_COLUMNS)).astype({"silhouette": float,
                                                             "stability": float})
    training = check.obj(top["training"], "training", {"customers", "ranges"})
    check.exact(training, "training", {"customers", "ranges"})
    customers = check.integer(training["customers"], "training.customers", low=1)
    ranges_in = check.obj(training["ranges"], "training.ranges", set(FEATURES))
    check.exact(ranges_in, "training.ranges", set(FEATURES))
    ranges = pd.DataFrame(
        [[check.number(check.exact(check.obj(ranges_in[f], f"training.ranges.{f}",
                                             set(_RANGE_KEYS)),
                                   f"training.ranges.{f}", set(_RANGE_KEYS))[c],
                       f"training.ranges.{f}.{c}") for c in _RANGE_KEYS] for f in FEATURES],
        index=list(FEATURES), columns=list(_RANGE_KEYS))
    data = None if top["data"] is None else _data(check, top["data"])

    segmenter = Segmenter(**settings)
    segmenter.n_clusters_ = k
    segmenter.cluster_centers_ = np.asarray(centroids, dtype=float)
    segmenter.scaler_mean_, segmenter.scaler_scale_ = mean, scale
    segmenter.segment_names_ = [s["name"] for s in segments]
    segmenter.opportunities_ = [s["opportunity"] for s in segments]
    segmenter.actions_ = [s["action"] for s in segments]
    segmenter.segments_ = segment_table
    segmenter.k_table_ = k_table
    segmenter.reason_ = reason
    segmenter.feature_ranges_ = ranges
    segmenter.n_customers_ = customers
    segmenter.n_features_in_ = len(FEATURES)
    segmenter.feature_names_in_ = np.asarray(FEATURES, dtype=object)
    segmenter.clustering_ = None
    return SavedModel(segmenter=segmenter, custseg_version=custseg_version, created=created,
                      data=data)


def _settings(check: _Checker, value: Any, transform: str) -> dict[str, Any]:
    from custseg.segmenter import Segmenter

    names = set(Segmenter._get_param_names())
    given = check.obj(value, "settings", names)
    check.exact(given, "settings", names)
    out: dict[str, Any] = {}
    for name in sorted(names):
        where = f"settings.{name}"
        item = given[name]
        if name == "n_clusters":
            out[name] = (item if item == "auto"
                         else check.integer(item, where, low=2, high=MAX_SEGMENTS))
        elif name == "feature_transform":
            out[name] = check.choice(item, where, (transform,))
        elif isinstance(getattr(Segmenter(), name), float):
            out[name] = check.number(item, where)
        else:
            out[name] = check.integer(item, where)
    return out


def _data(check: _Checker, value: Any) -> DataContext:
    keys = {"cleaning", "as_of", "snapshot", "preset", "currency", "lapse_after",
            "fingerprint"}
    data = check.exact(check.obj(value, "data", keys), "data", keys)
    prints = {"source", "bytes", "rows", "rows_kept", "customers", "rfm_sha256"}
    fingerprint = check.exact(check.obj(data["fingerprint"], "data.fingerprint", prints),
                              "data.fingerprint", prints)
    for name in ("bytes", "rows", "rows_kept", "customers"):
        if name != "bytes" or fingerprint[name] is not None:
            check.integer(fingerprint[name], f"data.fingerprint.{name}", low=0)
    if fingerprint["source"] is not None:
        check.text(fingerprint["source"], "data.fingerprint.source")
    if not re.fullmatch(r"[0-9a-f]{64}", str(fingerprint["rfm_sha256"])):
        raise ModelFileError(f"{check.where}: 'data.fingerprint.rfm_sha256' must be 64 hex "
                             "digits.")
    return DataContext(
        cleaning=_cleaning_from_json(check, data["cleaning"]),
        as_of=None if data["as_of"] is None else check.day(data["as_of"], "data.as_of"),
        snapshot=check.moment(data["snapshot"], "data.snapshot"),
        preset=None if data["preset"] is None else check.text(data["preset"], "data.preset"),
        currency=check.text(data["currency"], "data.currency", empty=True),
        lapse_after=_lapse_after(check, data["lapse_after"]),
        fingerprint=dict(fingerprint))


def _lapse_after(check: _Checker, value: Any) -> tuple[float, float]:
    from custseg.actions import check_lapse_after
    from custseg.errors import ConfigError

    multiple, days = check.seq(value, "data.lapse_after", check.number, length=2)
    try:
        return check_lapse_after((multiple, days))
    except ConfigError as exc:
        raise ModelFileError(f"{check.where}: 'data.lapse_after': {exc}") from exc


# --------------------------------------------------------------------------- cleaning rules

#: How each CleaningConfig annotation is written to and read from JSON.
_KINDS: dict[str, str] = {
    "bool": "bool",
    "tuple[str, ...]": "texts",
    "tuple[str, ...] | None": "texts?",
    "float | None": "number?",
    "date | None": "day?",
}


def _cleaning_to_json(cleaning: CleaningConfig) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cleaning):
        kind = _KINDS.get(str(f.type))
        if kind is None:  # a new kind of rule setting: this module must learn it first
            raise TypeError(f"CleaningConfig.{f.name}: {f.type} has no JSON form in "
                            "custseg.modelfile._KINDS")
        value = getattr(cleaning, f.name)
        if value is None:
            out[f.name] = None
        elif kind.startswith("texts"):
            out[f.name] = list(value)
        elif kind.startswith("day"):
            out[f.name] = value.isoformat()
        else:
            out[f.name] = value
    return out


def _cleaning_from_json(check: _Checker, value: Any) -> CleaningConfig:
    known = {f.name: _KINDS[str(f.type)] for f in dataclasses.fields(CleaningConfig)}
    # A field this custseg does not know is refused (it could change what is cleaned); a
    # field missing keeps its default (a file from before the rule existed).
    given = check.obj(value, "data.cleaning", set(known))
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ModelFileError(f"{check.where}: 'data.cleaning' has the unknown rule setting "
                             f"{unknown[0]!r}: a newer custseg wrote it, or it was edited.")
    out: dict[str, Any] = {}
    for name, item in given.items():
        where, kind = f"data.cleaning.{name}", known[name]
        if item is None and kind.endswith("?"):
            out[name] = None
        elif kind == "bool":
            out[name] = check.boolean(item, where)
        elif kind.startswith("texts"):
            out[name] = tuple(check.seq(item, where, check.text))
        elif kind.startswith("number"):
            out[name] = check.number(item, where)
        else:
            out[name] = check.day(item, where)
    return CleaningConfig(**out)


# --------------------------------------------------------------------------- layout

_TOP_KEYS = {"format", "version", "custseg_version", "created", "features", "transform",
             "settings", "scaler", "centroids", "segments", "reason", "segment_table",
             "k_table", "training", "data"}
_SEGMENT_KEYS = {"cluster": "int", "name": "text", "opportunity": "text", "action": "text"}
_RANGE_KEYS = ("min", "p01", "p99", "max")
#: The segment table's columns (custseg.segments.name_segments) and their kinds.
_SEGMENT_COLUMNS: dict[str, str] = {
    "cluster": "int", "segment": "text", "customers": "int", "customer_share": "number",
    "revenue": "number", "revenue_share": "number",
    **{f"{f}_{s}": "number" for f in FEATURES for s in ("mean", "median")},
    "opportunity": "text", "action": "text",
}
#: The k table's columns (custseg.cluster) and their kinds; "number?" may be null (NaN).
_K_COLUMNS: dict[str, str] = {
    "k": "int", "inertia": "number", "silhouette": "number?", "calinski_harabasz": "number?",
    "davies_bouldin": "number?", "min_share": "number", "stability": "number?",
    "eligible": "bool", "chosen": "bool", "note": "text",
}


class _Checker:
    """Type and shape checks that name the file and the field in their refusal."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, field: str, wanted: str, value: Any) -> ModelFileError:
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        return ModelFileError(f"{self.where}: the field '{field}' must be {wanted}, not "
                              f"{shown}. The file was edited or damaged: save the model again "
                              "with `custseg run --save-model`.")

    def obj(self, value: Any, field: str, keys: set[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(field or "the file", "a JSON object", value)
        return value

    def exact(self, value: dict[str, Any], field: str, keys: set[str]) -> dict[str, Any]:
        missing, extra = sorted(keys - set(value)), sorted(set(value) - keys)
        name = f"'{field}'" if field else "the file"
        if extra:
            raise ModelFileError(f"{self.where}: {name} has the unexpected field {extra[0]!r}; "
                                 "a custseg model holds only its own fields (was it edited?).")
        if missing:
            raise ModelFileError(f"{self.where}: {name} lacks the field {missing[0]!r}. Save "
                                 "the model again with `custseg run --save-model`.")
        return value

    def record(self, value: Any, field: str, columns: Mapping[str, str]) -> dict[str, Any]:
        row = self.exact(self.obj(value, field, set(columns)), field, set(columns))
        out: dict[str, Any] = {}
        for name, kind in columns.items():
            item, where = row[name], f"{field}.{name}"
            if kind.endswith("?") and item is None:
                out[name] = None
            elif kind == "text":
                out[name] = self.text(item, where, empty=True)
            elif kind == "bool":
                out[name] = self.boolean(item, where)
            elif kind == "int":
                out[name] = self.integer(item, where)
            else:
                out[name] = self.number(item, where)
        return out

    def seq(self, value: Any, field: str, item: Callable[[Any, str], Any],
            length: int | None = None) -> list[Any]:
        if not isinstance(value, list) or (length is not None and len(value) != length):
            wanted = "a list" + ("" if length is None else f" of {length}")
            raise self.fail(field, wanted, value)
        return [item(v, f"{field}[{i}]") for i, v in enumerate(value)]

    def vector(self, value: Any, field: str, key: str) -> np.ndarray:
        parent = self.exact(self.obj(value, field, {"mean", "scale"}), field, {"mean", "scale"})
        numbers = self.seq(parent[key], f"{field}.{key}", self.number, length=len(FEATURES))
        return np.asarray(numbers, dtype=float)

    def number(self, value: Any, field: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(
                value):
            raise self.fail(field, "a number", value)
        return float(value)

    def integer(self, value: Any, field: str, low: int | None = None,
                high: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or (
                low is not None and value < low) or (high is not None and value > high):
            span = f" from {low}" if low is not None else ""
            span += f" to {high}" if high is not None else ""
            raise self.fail(field, f"a whole number{span}", value)
        return value

    def boolean(self, value: Any, field: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(field, "true or false", value)
        return value

    def text(self, value: Any, field: str, *, empty: bool = False) -> str:
        if (not isinstance(value, str) or len(value) > MAX_TEXT or _CONTROL.search(value)
                or (not empty and not value)):
            raise self.fail(field, f"a line of text (up to {MAX_TEXT:,} characters)", value)
        return value

    def choice(self, value: Any, field: str, allowed: tuple[str, ...]) -> str:
        if value not in allowed or not isinstance(value, str):
            raise self.fail(field, "one of " + ", ".join(repr(a) for a in allowed), value)
        return value

    def day(self, value: Any, field: str) -> date:
        try:
            return date.fromisoformat(self.text(value, field))
        except ValueError:
            raise self.fail(field, "a date (YYYY-MM-DD)", value) from None

    def moment(self, value: Any, field: str) -> datetime:
        try:
            return datetime.fromisoformat(self.text(value, field))
        except ValueError:
            raise self.fail(field, "a date and time (ISO 8601)", value) from None

