"""The dashboard's RFM-grid chart and table, under the names its views use; they live in
:mod:`custseg.charts` with the report's charts."""

from __future__ import annotations

from custseg.charts import rfm_grid_bar
from custseg.charts import rfm_grid_table as grid_table

__all__ = ["grid_table", "rfm_grid_bar"]
