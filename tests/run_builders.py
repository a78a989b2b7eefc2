"""Builders for saved runs, so the gate is tested without the pytest plugin.

Runs are made exactly as the plugin saves them: `build_run([Record(...).to_dict()])`,
then the volatile parts (time, machine, package versions) are pinned.
"""

from __future__ import annotations

import json
import statistics

import pytest

from pytest_cegi.core.record import Check, Record
from pytest_cegi.core.run_file import build_run, write_run
from pytest_cegi.core.window import Method, Window

METHOD = Method(
    meter="codecarbon",
    cpu="RAPL",
    gpu="NVML",
    carbon_factor_g_per_kwh=400.0,
    carbon_factor_source="--cegi-carbon-intensity",
    estimate=False,
)
MACHINE = {
    "hostname": "ci-runner",
    "platform": "Linux-6.1-x86_64",
    "python": "3.11.9",
    "cpu": "AMD EPYC 7763 64-Core Processor",
    "cpu_count": 4,
    "gpus": ["NVIDIA A10G"],
}


def window(
    energy_kwh: float, phase: str = "inference", samples=(), method: Method = METHOD, requests: int | None = None
) -> Window:
    """A window; with samples, its energy is their mean (one repeat's figure)."""
    if samples:
        energy_kwh = statistics.fmean(samples)
    return Window(
        phase=phase,
        energy_kwh=energy_kwh,
        emissions_kg=energy_kwh * method.carbon_factor_g_per_kwh / 1000.0,
        duration_s=2.0,
        method=method,
        samples=tuple(samples),
        requests=requests,
    )


def record(
    variant: str,
    task: str = "sql",
    *,
    score: float | None = 0.5,
    energy: float = 1e-4,
    samples=(),
    reference: bool = False,
    cegi: float | None = None,
    requests: int | None = None,
    finetune: float | None = None,
    method: Method = METHOD,
    checks=(),
    verdict: str = "pass",
    metric: str = "exact_match",
    nodeid: str | None = None,
    **fields,
) -> dict:
    """fields: any other Record field (limits, trainable_params, cegi_applicable, reruns, ...)."""
    windows = []
    if finetune is not None:
        windows.append(window(finetune, "finetune", method=method))
    windows.append(window(energy, samples=samples, method=method, requests=requests))
    rec = Record(
        nodeid=nodeid or f"benchmarks/test_{task}.py::test_{task}[{variant}]",
        task=task,
        variant=variant,
        reference=reference,
        metric=metric,
        score=score,
        windows=windows,
        cegi=cegi,
        checks=list(checks),
        verdict=verdict,
        **{"cegi_reason": None if cegi is not None or reference else "no gain over reference", **fields},
    )
    return rec.to_dict()


def run(
    records: list,
    *,
    machine: dict | None = None,
    method: Method = METHOD,
    repeat: int = 1,
    deployment: dict | None = None,
    created: str = "2025-01-01T00:00:00+00:00",
) -> dict:
    settings = {"enforce": True, "repeat": repeat, "country": None, "carbon_intensity": 400.0, "meter": method.meter}
    if deployment:
        settings["deployment"] = deployment
    out = build_run(records, method.to_dict(), settings)
    out.update(created=created, machine=dict(machine or MACHINE), packages={"pytest": "8.0.0"}, pytest_cegi="0.1.0")
    return out


class Factory:
    """Access to the builders from tests (fixtures are the way to share them)."""

    METHOD, MACHINE = METHOD, MACHINE
    window, record, run, Check = staticmethod(window), staticmethod(record), staticmethod(run), Check

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path

    def save(self, run_dict: dict, name: str = "run.json") -> str:
        path = self.tmp_path / name
        write_run(path, run_dict)
        return str(path)

    def write_text(self, text: str, name: str) -> str:
        path = self.tmp_path / name
        path.write_text(text, encoding="utf-8")
        return str(path)

    @staticmethod
    def dump(run_dict: dict) -> str:
        return json.dumps(run_dict, indent=2)


@pytest.fixture
def make(tmp_path) -> Factory:
    return Factory(tmp_path)
