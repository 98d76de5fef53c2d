"""Limits on the native thread pools (OpenMP, BLAS) that scikit-learn and NumPy use.

Small models run single-threaded: starting and synchronising pool threads costs more than the
work. ``threadpoolctl.threadpool_limits`` inspects every loaded library on each call (3 ms);
one controller, made on first use, is reused instead.
"""

from __future__ import annotations

import contextlib
from functools import cache
from typing import Any

from threadpoolctl import ThreadpoolController


@cache
def _controller() -> ThreadpoolController:
    # Made after scikit-learn is imported (its callers import it), so its OpenMP is seen.
    return ThreadpoolController()


def limit(threads: int | None, user_api: str | None = None) -> Any:
    """A context manager capping native pools at ``threads`` (None: leave them as they are).

    ``user_api="openmp"`` caps only OpenMP, whose limit belongs to the calling thread; BLAS
    limits are process-wide, so code that may run beside another limit must leave them alone
    (the second to restore would undo the first).
    """
    if threads is None:
        return contextlib.nullcontext()
    return _controller().limit(limits=threads, user_api=user_api)
