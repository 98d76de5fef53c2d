"""Writing the result of ``custseg score`` (:class:`custseg.scoring.Scored`) to a folder.

The files a run writes keep their names and layout where scoring has them (customers,
segments, cleaning report, flagged transactions, product mix; :mod:`custseg.outputs`), and
two are scoring's own: ``outside_training.csv`` and ``score_summary.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from custseg import outputs
from custseg.safe_cells import to_csv

if TYPE_CHECKING:
    from custseg.scoring import Scored


def write_scored(scored: Scored, out_dir: str | Path) -> list[Path]:
    """Write every output file of ``scored`` into ``out_dir`` (created if needed).

    Returns
    -------
    The paths written, in order.
    """
    from custseg.scoring import summary

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = scored.as_result()
    written = outputs.write_customer_files(result, out)
    to_csv(scored.segments, out / "segments.csv")
    to_csv(scored.outside, out / "outside_training.csv")
    written += [out / "segments.csv", out / "outside_training.csv"]
    written += outputs.write_transaction_files(result, out)
    written.append(outputs.write_json(out / "score_summary.json", summary(scored)))
    return written
