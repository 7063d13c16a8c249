"""What people see of a run: timeline.html, plots, campaign views.

``eosim run`` and ``eosim report STORE_DIR`` call ``write_report`` (the run's page draws its plots
in the browser; ``eosim report`` also writes them as PNGs); scenarios call ``lag_plot``.
Matplotlib is imported inside the plotting functions, which only PNGs need, so that importing this
package and writing a run's report stay cheap.
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
