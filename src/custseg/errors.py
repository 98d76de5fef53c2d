"""Exceptions the core raises; each message says what is wrong, where, and how to fix it."""

from __future__ import annotations

#: Longest reader detail shown after the plain message; raw reader output can run to pages.
MAX_DETAIL_CHARS = 800


class CustsegError(Exception):
    """Base class: a problem the user can act on. The message is shown as is.

    Parameters
    ----------
    message:
        What is wrong, where, and how to fix it, in plain words: ``str(exc)``.
    detail:
        The underlying library's own message (e.g. DuckDB's), kept for the user and shown
        after the plain message, never instead of it.
    """

    #: The heading every front end shows above the message.
    title = "Cannot continue"
    #: Whose words ``detail`` holds, as :func:`describe_error` introduces them.
    detail_source = "the reader"

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.detail = detail


class InputError(CustsegError):
    """The input file or frame cannot be read or is not a transaction log."""

    title = "Cannot read the input"


class MappingError(InputError):
    """Required columns could not be found in the input."""

    title = "Columns not found"

    def __init__(self, message: str, columns: list[str] | None = None,
                 missing: list[str] | None = None, *, detail: str | None = None) -> None:
        super().__init__(message, detail=detail)
        #: The input's column names, for a mapping form.
        self.columns = columns or []
        #: Canonical keys that could not be mapped.
        self.missing = missing or []


class FeatureError(InputError, ValueError):
    """An RFM table or array given to :class:`custseg.Segmenter` cannot be used (missing or
    infinite values, wrong number of features, too few customers). Also a ``ValueError``, as
    scikit-learn's estimators raise for bad input."""

    title = "Cannot use the RFM data"


class FeatureTypeError(InputError, TypeError):
    """An RFM table or array given to :class:`custseg.Segmenter` holds values that are not
    numbers. Also a ``TypeError``, as scikit-learn's estimators raise for such input."""

    title = "Cannot use the RFM data"


class ModelFileError(InputError):
    """A saved segmentation (``--save-model``, :meth:`custseg.Segmenter.save`) cannot be read:
    not JSON, not a custseg model, an unknown version, or a field of the wrong type or shape."""

    title = "Cannot read the model file"


class ReadingChoiceError(InputError):
    """The data reads correctly in more than one way (two date orders, two decimal
    separators): a reading setting must say which, and a form can offer ``choices``."""

    title = "The data can be read two ways"

    def __init__(self, message: str, setting: str, choices: list[str], *,
                 detail: str | None = None) -> None:
        super().__init__(message, detail=detail)
        #: The :class:`custseg.config.ReadConfig` field that settles it.
        self.setting = setting
        #: The values that read the data, most likely first.
        self.choices = choices


class ConfigError(CustsegError):
    """A setting is out of range or inconsistent."""

    title = "A setting is wrong"


class EmptyResultError(CustsegError):
    """Cleaning or filtering left too little data to continue."""

    title = "Too little data"


class NoSegmentsError(EmptyResultError):
    """The customers cannot be segmented: too few, or too alike. The RFM table and grid still
    stand; the message is the note a run writes in their place."""

    title = "No segments formed"


class CLVError(CustsegError):
    """Lifetime value cannot be estimated on this data (too few repeat customers, a period too
    short to hold out, a fit that does not converge). A run goes on without it and says why."""

    title = "No lifetime value"
    detail_source = "lifetimes"


class ResourceError(CustsegError):
    """The engine ran out of memory or of temporary disk space: the input is too large for
    the settings, not wrong. The message names what ran out, the temporary directory in use
    and the settings that change it."""

    title = "Out of memory or disk space"
    detail_source = "DuckDB"

    def __init__(self, message: str, resource: str, temp_dir: str,
                 memory_limit: str | None, *, detail: str | None = None) -> None:
        super().__init__(message, detail=detail)
        #: What ran out: ``"memory"`` or ``"disk"``.
        self.resource = resource
        #: The folder DuckDB spills to (``--temp-dir``, :attr:`Config.temp_dir`).
        self.temp_dir = temp_dir
        #: DuckDB's memory limit in force (``--memory-limit``), None for DuckDB's default.
        self.memory_limit = memory_limit
        self.title = "Out of memory" if resource == "memory" else "Out of disk space"


def describe_error(exc: CustsegError) -> tuple[str, str]:
    """The heading and the full text of ``exc``, as the CLI and the dashboard both show it.

    The text is the plain message; when the error carries the reader's own message, it
    follows after a blank line (cut to :data:`MAX_DETAIL_CHARS`), so the plain explanation
    always comes first and the raw cause is still there for whoever needs it.
    """
    text = str(exc)
    detail = (exc.detail or "").strip()
    if detail:
        if len(detail) > MAX_DETAIL_CHARS:
            detail = detail[:MAX_DETAIL_CHARS].rstrip() + " …"
        text += f"\n\nDetails from {exc.detail_source}: {detail}"
    return exc.title, text
