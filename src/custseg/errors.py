"""Exceptions the core raises; each message says what is wrong, where, and how to fix it."""

from __future__ import annotations


class CustsegError(Exception):
    """Base class: a problem the user can act on. The message is shown as is."""


class InputError(CustsegError):
    """The input file or frame cannot be read or is not a transaction log."""


class MappingError(InputError):
    """Required columns could not be found in the input."""

    def __init__(self, message: str, columns: list[str] | None = None,
                 missing: list[str] | None = None) -> None:
        super().__init__(message)
        #: The input's column names, for a mapping form.
        self.columns = columns or []
        #: Canonical keys that could not be mapped.
        self.missing = missing or []


class ConfigError(CustsegError):
    """A setting is out of range or inconsistent."""


class EmptyResultError(CustsegError):
    """Cleaning or filtering left too little data to continue."""
