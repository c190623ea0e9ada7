"""The demo and the lab: real services on loopback for ``fleetwatch demo``, the tests and the
benchmarks, and the simulated printer fleet they serve.

Public API (tests and ``bench/`` import these names from here):
"""

from collector.demo.lab import (
    Influxd,
    LabError,
    Process,
    Snmpsim,
    VictoriaMetrics,
    free_port,
    wait_http,
)
from collector.demo.simfleet import SimFleet, SimPrinter

__all__ = ["Influxd", "LabError", "Process", "SimFleet", "SimPrinter", "Snmpsim",
           "VictoriaMetrics", "free_port", "wait_http"]
