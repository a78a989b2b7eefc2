"""Per-window overhead of `cegi.measure()` versus a fresh codecarbon tracker per test.

Runs the same small workload three ways, side by side in one process:
  bare      the workload alone
  measure   inside pytest-cegi's codecarbon meter window (one tracker, a task per window)
  fresh     inside a new OfflineEmissionsTracker started and stopped each time
and prints the median extra time per window. Target: under 2 ms per window after
the first for `measure`.

    python benchmarks/scripts/bench_measure_overhead.py [--windows 50]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time

from pytest_cegi.core.settings import Settings
from pytest_cegi.measure.meters.codecarbon import CodecarbonMeter


def workload() -> int:
    return sum(i * i for i in range(20_000))


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=50)
    parser.add_argument("--fresh", type=int, default=5, help="fresh trackers to time (each is slow)")
    args = parser.parse_args()
    logging.getLogger("codecarbon").setLevel(logging.ERROR)

    meter = CodecarbonMeter(Settings().carbon)

    def in_window():
        with meter.window("inference"):
            workload()

    first = timed(in_window)
    # Interleave bare and measured runs so drifts in machine load hit both alike.
    bare, measured = [], []
    for _ in range(args.windows):
        bare.append(timed(workload))
        measured.append(timed(in_window))

    from codecarbon import OfflineEmissionsTracker

    def fresh_tracker():
        tracker = OfflineEmissionsTracker(
            country_iso_code="USA", output_methods=[], log_level="error", allow_multiple_runs=True
        )
        tracker.start()
        workload()
        tracker.stop()

    fresh = [timed(fresh_tracker) for _ in range(args.fresh)]

    base = statistics.median(bare)
    print(f"workload alone:                median {base * 1e3:8.3f} ms over {len(bare)} runs")
    print(f"cegi.measure() first window:   {first * 1e3:8.1f} ms (tracker start-up, once per process)")
    overhead = statistics.median(m - b for m, b in zip(measured, bare, strict=True))
    fresh_overhead = statistics.median(fresh) - base
    print(
        f"cegi.measure() later windows:  median {statistics.median(measured) * 1e3:8.3f} ms; "
        f"overhead {overhead * 1e3:+.3f} ms per window (median of paired differences; target < 2 ms)"
    )
    print(
        f"fresh tracker per test:        median {statistics.median(fresh) * 1e3:8.3f} ms; "
        f"overhead {fresh_overhead * 1e3:+.3f} ms per window"
    )
    if overhead > 0:
        print(f"fresh tracker costs {fresh_overhead / overhead:.1f}x the overhead of a measure() window")
    else:
        print("measure() overhead is below this machine's timing noise")
    print(f"measured by: {meter.method().label()}")


if __name__ == "__main__":
    main()
