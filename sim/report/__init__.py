"""What people see of a run: timeline.html, plots, campaign views.

``eosim report STORE_DIR`` calls ``write_report``; scenarios call ``lag_plot``. Matplotlib is
imported inside the plotting functions so that importing this package stays cheap.
"""

from sim.report.model import Window, nemesis_windows
from sim.report.plots import (
    MAX_TIMELINE_OPS,
    lag_plot,
    latency_plot,
    throughput_plot,
)
from sim.report.store_report import write_report

__all__ = [
    "MAX_TIMELINE_OPS",
    "Window",
    "lag_plot",
    "latency_plot",
    "nemesis_windows",
    "throughput_plot",
    "write_report",
]
