"""Pool several saved runs of the same tests into one, for alternated A/B comparisons.

On a shared CI runner the load drifts during a job, so a fair energy comparison of
base and head runs them alternately (base, head, base, head) and pools each side's
repeats: `pytest-cegi pool base-1.json base-2.json -o base.json`. Every window's
samples become the union of that window's samples in all runs (a window measured
once contributes its one figure), and its figures the mean over them; everything
else comes from the first run, counted work and modelled figures included (they are
the same in every run of the same code; where they are not, the pooled run says so in
its `warnings`). Records are matched by node id; a test missing
from one of the runs, or a run from other hardware, is an error naming the file,
because a pooled figure of unequal parts would mislead.
"""

from __future__ import annotations

import copy
import statistics
from typing import Any

from pytest_cegi.core.run_file import BaselineError
from pytest_cegi.judge.environment import hardware_difference

_MEANS = ("energy_kwh", "emissions_kg", "duration_s", "cpu_energy_kwh", "gpu_energy_kwh", "ram_energy_kwh")


def pool_runs(runs: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """runs: (path, validated run dict) pairs; returns the pooled run dict."""
    if not runs:
        raise ValueError("pool_runs needs at least one run")
    first_path, first = runs[0]
    for path, run in runs[1:]:
        other = hardware_difference(first.get("machine"), run.get("machine"))
        if other is not None and other.refuses:  # pooled repeats must be of one machine's work
            raise BaselineError(
                path, f"ran on other hardware ({other.head}) than {first_path} ({other.base}); pool runs of one machine"
            )
    pooled = copy.deepcopy(first)
    by_id = [(path, {r["nodeid"]: r for r in run["records"]}) for path, run in runs]
    for record in pooled["records"]:
        twins = []
        for path, records in by_id:
            twin = records.get(record["nodeid"])
            if twin is None:
                raise BaselineError(
                    path, f"has no record {record['nodeid']!r} (present in {first_path}); pool runs of the same tests"
                )
            if len(twin["windows"]) != len(record["windows"]):
                raise BaselineError(
                    path,
                    f"record {record['nodeid']!r} has {len(twin['windows'])} windows, "
                    f"{first_path} has {len(record['windows'])}",
                )
            twins.append(twin)
        record["windows"] = [_pool_window([t["windows"][i] for t in twins]) for i in range(len(record["windows"]))]
        differs = [
            f"{record['nodeid']} window {i} ({record['windows'][i]['phase']})"
            for i in range(len(record["windows"]))
            if any(t["windows"][i].get("work") != twins[0]["windows"][i].get("work") for t in twins)
        ]
        if differs:  # counted work is deterministic: a difference is worth a look, never averaged
            pooled.setdefault("warnings", []).append(
                f"counted work differs between the pooled runs for {', '.join(differs)}; "
                f"the modelled figures are {first_path}'s"
            )
        for key in ("energy_kwh", "emissions_kg", "duration_s"):
            record[key] = sum(w[key] for w in _counted(record))
    pooled["pooled_from"] = [path for path, _ in runs]
    partial = [f"{path}: {run['incomplete']}" for path, run in runs if run.get("incomplete")]
    if partial:  # a pool of a partial run is partial too
        pooled["incomplete"] = "; ".join(partial)
    return pooled


def _pool_window(windows: list[dict[str, Any]]) -> dict[str, Any]:
    out = copy.deepcopy(windows[0])
    samples = [s for w in windows for s in (w.get("samples") or [w["energy_kwh"]])]
    factor = [w["emissions_kg"] / w["energy_kwh"] for w in windows if w["energy_kwh"]]
    for key in _MEANS:
        out[key] = statistics.fmean(w[key] for w in windows)
    out["energy_kwh"] = statistics.fmean(samples)
    if factor:
        out["emissions_kg"] = out["energy_kwh"] * factor[0]
    out["samples"] = samples if len(samples) > 1 else []
    out["cached"] = all(w.get("cached") for w in windows)
    return out


def _counted(record: dict[str, Any]) -> list[dict[str, Any]]:
    phases = record.get("phases_counted")
    return [w for w in record["windows"] if not phases or w["phase"] in phases]
