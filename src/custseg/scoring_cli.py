"""The command-line side of saved segmentations: ``run --save-model`` and ``custseg score``
(kept out of cli.py, which holds the commands' options; this holds what they print)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.panel import Panel
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from rich.console import Console

    from custseg.config import Config
    from custseg.pipeline import Result


def save_model(result: Result, path: Path, out: Console, quiet: bool) -> Path:
    """Write the run's segmentation with its data context to ``path``.

    Raises
    ------
    custseg.errors.NoSegmentsError
        When the run formed no segments (the notes say why).
    """
    from custseg import modelfile
    from custseg.errors import NoSegmentsError

    if result.segmenter is None:
        why = " ".join(result.summary.get("notes", [])) or "no segments were formed."
        raise NoSegmentsError(f"No model was saved to {path}: {why}")
    written = result.segmenter.save(path, context=modelfile.run_context(result))
    if not quiet:
        out.print(f"Saved the segmentation (k={result.segmenter.n_clusters_}) to "
                  f"[bold]{written}[/bold]; assign new customers with "
                  f"`custseg score FILE --model {written}`.")
    return written


def run_score(file: Path, model: Path, out_dir: Path, config: Config, *, sheet: str | None,
              mapping: str | None, out: Console, err: Console, quiet: bool) -> Any:
    """Score ``file`` with ``model``, write the files and print the segments and warnings."""
    from custseg import io, scoring
    from custseg.score_outputs import write_scored

    scored = scoring.score(file, model, config, as_of=config.rfm.as_of, sheet=sheet,
                           mapping=io.parse_mapping(mapping))
    written = write_scored(scored, out_dir)
    if not quiet:
        _print_segments(scored, out)
        for note in scored.notes:
            out.print(Text(note, style="dim"))
    if scored.warnings:
        # Shown with --quiet too: a result to be read with care.
        err.print(Panel(Text("\n\n".join(scored.warnings)),
                        title="custseg: new customers outside what the model saw",
                        border_style="yellow", title_align="left"))
    if not quiet:
        out.print(f"Wrote {len(written)} files to [bold]{out_dir}[/bold]")
    return scored


def _print_segments(scored: Any, out: Console) -> None:
    report = scored.dataset.cleaning
    table = Table(title=f"{len(scored.customers):,} customers assigned to "
                        f"{scored.model.segmenter.n_clusters_} saved segments "
                        f"({report.rows_kept:,} of {report.rows_in:,} rows kept)",
                  header_style="bold")
    for name in ("segment", "customers", "share", "in training", "confidence"):
        table.add_column(name, justify="left" if name == "segment" else "right")
    for row in scored.segments.itertuples():
        confidence = "" if row.customers == 0 else f"{row.mean_confidence:.2f}"
        # Text, not markup: the names come from the model file.
        table.add_row(Text(str(row.segment)), f"{row.customers:,}", f"{row.customer_share:.1%}",
                      f"{row.training_share:.1%}", confidence)
    out.print(table)
