"""Per-process state of one pytest session: settings, the meter, reference scores,
and the finished records collected for reports."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_cegi.core.settings import Settings
from pytest_cegi.core.shard import Shard
from pytest_cegi.measure.devices import Pin
from pytest_cegi.measure.meters import build_meter
from pytest_cegi.measure.meters.base import Meter

if TYPE_CHECKING:  # an unused session imports no record (tests/plugin/test_isolation.py)
    from pytest_cegi.core.record import Record
    from pytest_cegi.core.window import Method


def make_meter(settings: Settings, serialize_with: str | None = None, pin: Pin | None = None) -> Meter:
    """The meter named in settings; wrapped in a cross-process lock under xdist.

    A worker pinned to one GPU (`pin`) meters that device's own NVML counter and takes
    turns only with the workers on the same device: its CPU and RAM figures are its
    process's own (attributed), so windows on different GPUs may overlap."""
    meter = build_meter(settings)
    if pin is not None and not meter.traits.deterministic:
        from pytest_cegi.measure.devices import nvml
        from pytest_cegi.measure.meters.device import DeviceMeter

        meter = DeviceMeter(meter, pin.device, nvml())
    # Counted work is per thread, so only measured energy needs windows serialised.
    if serialize_with is not None and not meter.traits.deterministic:
        from pytest_cegi.measure.meters.serial import SerializedMeter, lock_path

        path = lock_path(serialize_with)
        meter = SerializedMeter(meter, path if pin is None else device_lock(path, pin.device.index))
    return meter


def device_lock(path: str, index: int) -> str:
    """The window lock of one GPU's workers (removed with the run's lock: serial.py)."""
    return f"{path}.gpu{index}"


@dataclass
class SessionState:
    settings: Settings
    is_worker: bool = False  # an xdist worker: measure, but report nothing
    testrun_uid: str | None = None  # xdist's test-run id, shared by all workers of a run
    meter: Meter | None = None
    work_model: Any = None  # WorkModel, built on first use
    pacer: Any = None  # DuetPacer when this session is one side of a duet (measure/duet.py)
    reference_scores: dict[str, float | None] = field(default_factory=dict)  # task -> the reference test's score
    references_run: set[str] = field(default_factory=set)  # tasks whose reference test ran in this process
    shard: Shard | None = None  # the part of a sharded suite this session runs (--cegi-shard, pytest-split)
    pin: Pin | None = None  # the GPU this xdist worker was pinned to (one worker per GPU), if any
    records: list[Record] = field(default_factory=list)  # finished records, in run order
    expected: int | None = None  # measured tests selected to run; None where this process never collected (xdist)
    stopped: str | None = None  # why the session ended before its last test (interrupted, -x, --maxfail)
    written: list[Path] = field(default_factory=list)  # files written at session end

    def get_meter(self) -> Meter:
        # Built on first use: sessions that never measure never import a tracker.
        if self.meter is None:
            lock = self.testrun_uid if self.is_worker else None
            self.meter = make_meter(self.settings, serialize_with=lock, pin=self.pin)
        return self.meter

    def get_work_model(self):
        """The model that prices every window's counted work (the flops meter's own,
        under --cegi-meter=flops); built on first use."""
        if self.work_model is None:
            meter = self.get_meter()
            if hasattr(meter, "work_model"):
                self.work_model = meter.work_model()
            else:
                from pytest_cegi.core.carbon import carbon_factor
                from pytest_cegi.measure.profile import load_profile
                from pytest_cegi.measure.work_model import WorkModel

                profile = load_profile(self.settings.flops_profile)
                self.work_model = WorkModel(profile, carbon_factor(self.settings.carbon)[0])
        return self.work_model

    @property
    def device(self) -> str | None:
        """The pinned GPU as records name it; None when this process is not pinned."""
        return self.pin.device.label if self.pin is not None else None

    @functools.cached_property
    def machine(self) -> dict[str, Any]:
        """This machine's description, read once (per-test baseline checks need it)."""
        from pytest_cegi.core.run_file import machine_info

        return machine_info()

    @property
    def incomplete(self) -> str | None:
        """Why the saved run lacks tests it was meant to hold, or None: a run cut short
        must not pass for a whole one (a baseline promoted from it would gate nothing
        for the tests it lacks)."""
        if self.stopped is None or (self.expected is not None and len(self.records) >= self.expected):
            return None
        of = f" of {self.expected}" if self.expected is not None else ""
        return f"the session stopped early ({self.stopped}): {len(self.records)}{of} measured tests ran"

    def meter_method(self) -> Method | None:
        """How this run measured: its meter's, or (the xdist controller, which measures
        nothing itself) the first record's."""
        if self.meter is not None:
            return self.meter.method()
        return next((r.method for r in self.records if r.method is not None), None)

    def close(self) -> None:
        if self.meter is not None:
            self.meter.close()
