"""custseg: customer segments, explanations, anomalies and actions from a transaction log.

Typical use::

    import custseg
    result = custseg.run("online_retail.xlsx")
    result.rfm.head()
    custseg.write_outputs(result, "out/")
"""

from custseg.clean import CleaningReport
from custseg.cohorts import cohort_table, retention_matrix
from custseg.config import (
    AnomalyConfig,
    CleaningConfig,
    ClusterConfig,
    Config,
    ExplainConfig,
    RFMConfig,
)
from custseg.errors import ConfigError, CustsegError, EmptyResultError, InputError, MappingError
from custseg.outputs import write_outputs
from custseg.pipeline import Dataset, Result, compute_rfm, load, run
from custseg.rfmtable import rfm_table

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # The Segmenter is a scikit-learn estimator: imported on first use, so that importing
    # custseg (the CLI reading a file) does not wait for scikit-learn.
    if name == "Segmenter":
        from custseg.segmenter import Segmenter

        return Segmenter
    raise AttributeError(f"module 'custseg' has no attribute {name!r}")


__all__ = [
    "AnomalyConfig",
    "CleaningConfig",
    "CleaningReport",
    "ClusterConfig",
    "Config",
    "ConfigError",
    "CustsegError",
    "Dataset",
    "EmptyResultError",
    "ExplainConfig",
    "InputError",
    "MappingError",
    "RFMConfig",
    "Result",
    "Segmenter",
    "__version__",
    "cohort_table",
    "compute_rfm",
    "load",
    "retention_matrix",
    "rfm_table",
    "run",
    "write_outputs",
]
