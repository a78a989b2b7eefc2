"""Attributed energy: what a window's own work cost, not the machine's draw while it ran.

codecarbon reports the machine: without RAPL it models CPU power from machine-wide
load and RAM as constant power x wall time, so anything else running on the machine
(another CI job, a compiler, a neighbour VM) moves a test's figure. Measured on this
project's 2-core machine beside other jobs: 34 % median coefficient of variation per
test, 70 % of it RAM x wall time.

The attributed figure charges a window for its own process instead:

- CPU: the process's CPU time (all its threads, `time.process_time`) in the window.
  Where the CPU energy is modelled (no RAPL), each CPU-second costs TDP / logical
  cores: the same power model codecarbon uses at full load, applied to this
  process's seconds only. Where the CPU energy is metered (RAPL), the package energy
  is shared by the process's fraction of the machine's busy CPU time.
- RAM: the process's share of memory (resident set / machine memory) of the RAM
  power, for the CPU time the process ran. Charging the window's wall time instead
  would bill the test for the minutes a neighbour kept it waiting for a core.
- GPU: NVML's energy counter of the device (codecarbon's reading), with CUDA
  synchronised at the window's edges; NVML has no per-process energy, so a GPU
  shared with other jobs is charged in full (documented in docs/meters.md).

Spinning thread pools: OpenMP threads that busy-wait burn CPU time that depends on
the neighbours, not on the work; see `omp_wait_policy` for what the plugin does.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

_GB = 1024**3


@dataclass(frozen=True)
class ProcessSample:
    """This process's counters at one instant."""

    cpu_s: float  # user + system CPU time of all threads
    rss_bytes: int  # resident set size
    machine_busy_s: float  # non-idle CPU time of the whole machine (for RAPL shares)


def _rss_bytes() -> int:
    try:  # /proc is a single read; psutil costs ~20 us more and is only the fallback
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import psutil

        return int(psutil.Process().memory_info().rss)


def _machine_busy_s() -> float:
    import psutil

    t = psutil.cpu_times()
    return float(sum(t) - t.idle - getattr(t, "iowait", 0.0))


def sample(with_machine: bool = False) -> ProcessSample:
    return ProcessSample(time.process_time(), _rss_bytes(), _machine_busy_s() if with_machine else 0.0)


@dataclass(frozen=True)
class PowerModel:
    """The figures attribution multiplies CPU seconds by."""

    cpu_watts_per_core: float
    ram_watts_per_gb: float
    cores: int
    cpu_metered: bool  # RAPL: share measured package energy instead of the model
    describe_cpu: str  # shown in every report
    describe_ram: str

    def attribute(self, start: ProcessSample, end: ProcessSample, machine_cpu_kwh: float) -> tuple[float, float, float]:
        """(cpu_kwh, ram_kwh, cpu_seconds) of the window between two samples."""
        cpu_s = max(0.0, end.cpu_s - start.cpu_s)
        if self.cpu_metered:
            busy = end.machine_busy_s - start.machine_busy_s
            share = min(1.0, cpu_s / busy) if busy > 0 else 1.0
            cpu_kwh = machine_cpu_kwh * share
        else:
            cpu_kwh = cpu_s * self.cpu_watts_per_core / 3.6e6
        rss_gb = (start.rss_bytes + end.rss_bytes) / 2 / _GB
        ram_kwh = cpu_s * rss_gb * self.ram_watts_per_gb / 3.6e6
        return cpu_kwh, ram_kwh, cpu_s


def codecarbon_power_model(cpu_metered: bool) -> PowerModel:
    """The power model from codecarbon's own hardware data (its TDP table and RAM model).

    Uses `codecarbon.core.cpu.TDP` and `codecarbon.external.ram.RAM`, read once per
    session; tests/measure/test_attribution.py fails loudly if codecarbon changes them.
    """
    import psutil
    from codecarbon.core.cpu import TDP
    from codecarbon.external.ram import RAM

    cores = psutil.cpu_count(logical=True) or 1
    tdp = TDP()
    tdp_watts = float(tdp.tdp) if tdp.tdp else 0.0
    machine_gb = psutil.virtual_memory().total / _GB
    ram_watts = float(RAM(tracking_mode="machine").total_power().W)
    per_gb = ram_watts / machine_gb if machine_gb > 0 else 0.0
    if cpu_metered:
        cpu_text = "attributed: RAPL package energy x the process's share of busy CPU time"
    else:
        cpu_text = (
            f"attributed: process CPU time x {tdp_watts:g} W TDP / {cores} cores "
            f"({tdp.model or 'unknown CPU'}, codecarbon's TDP table)"
        )
    ram_text = (
        f"attributed: process RSS share x {ram_watts:g} W for {machine_gb:.1f} GB "
        f"(codecarbon's RAM model) x process CPU time"
    )
    return PowerModel(tdp_watts / cores, per_gb, cores, cpu_metered, cpu_text, ram_text)


def omp_wait_policy(environ: Any = os.environ) -> str | None:
    """Make idle OpenMP threads sleep instead of spin, before torch loads OpenMP.

    torch's CPU thread pool (libgomp) busy-waits between parallel regions by default.
    Beside another busy process, two spinning threads on a 2-core machine made a
    generate loop 3-4x slower and its CPU time vary by 60 %; with
    OMP_WAIT_POLICY=PASSIVE it varied 2.6 % at full speed (benchmarks/README.md).
    A value the user set is kept. Returns a line for the session header, or None
    when nothing was done.
    """
    import sys

    if "OMP_WAIT_POLICY" in environ:
        return f"OMP_WAIT_POLICY={environ['OMP_WAIT_POLICY']} (set by you; kept)"
    if "torch" in sys.modules:
        return (
            "OMP_WAIT_POLICY not set and torch was imported before pytest-cegi could set it: "
            "spinning OpenMP threads may make CPU-time energy noisy; export OMP_WAIT_POLICY=PASSIVE"
        )
    environ["OMP_WAIT_POLICY"] = "PASSIVE"
    return "OMP_WAIT_POLICY=PASSIVE (idle OpenMP threads sleep, so CPU time is the work's own)"
