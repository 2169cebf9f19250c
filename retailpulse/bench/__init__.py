"""``retailpulse bench``: the service measured over HTTP against the workload's limits.

See ``scenarios`` for what is measured and how, ``baseline`` for the yardstick.
"""

from retailpulse.bench.report import machine, table
from retailpulse.bench.scenarios import Plan, Row, run_plan

__all__ = ["Plan", "Row", "machine", "run_plan", "table"]
