"""What two runs' environments allow a comparison: hardware, meter, carbon factor and
software differences (energy-derived figures refused across hardware and meters), the
4-bit kernel path a score ran on, and the configuration the counted work ran under."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pytest_cegi.core.meter_traits import traits_of
from pytest_cegi.core.record import Record
from pytest_cegi.core.window import Method, meter_identity
from pytest_cegi.judge.regression import ENERGY_DERIVED, QUANTITIES


@dataclass(frozen=True)
class Mismatch:
    """A difference between the two runs' environments."""

    kind: str  # "hardware", "meter", "carbon factor"
    base: str
    head: str
    refuses: tuple[str, ...]  # quantities it makes meaningless
    note: str = ""  # for a difference that refuses nothing: what it means for the comparison

    def describe(self) -> str:
        text = f"{self.kind} differs: baseline {self.base}, this run {self.head}"
        return f"{text} ({self.note})" if self.note else text

    def to_dict(self) -> dict[str, Any]:
        out = {"kind": self.kind, "base": self.base, "head": self.head, "refuses": list(self.refuses)}
        return {**out, "note": self.note} if self.note else out


def _hardware(machine: Mapping[str, Any] | None, with_identity: bool) -> str | None:
    machine = machine or {}
    if not machine.get("cpu") and not machine.get("gpus"):
        return None
    gpus = ", ".join(sorted(machine.get("gpus") or [])) or "no GPU"
    cpu = machine.get("cpu") or "unknown CPU"
    if with_identity:  # cloud guests name several CPU generations alike ("AMD EPYC")
        cpu += f" ({machine['cpu_id']})"
    return f"{cpu}; {gpus}"


def hardware_difference(base: Mapping[str, Any] | None, head: Mapping[str, Any] | None) -> Mismatch | None:
    """The hardware mismatch between two machines (energy-derived figures refused), or
    a note when one run, written before run files identified CPUs, cannot say which CPU
    it ran on (the check then rests on the model name alone), or None."""
    base, head = base or {}, head or {}
    bid, hid = base.get("cpu_id"), head.get("cpu_id")
    bh, hh = _hardware(base, bool(bid and hid)), _hardware(head, bool(bid and hid))
    if bh and hh and bh != hh:
        return Mismatch("hardware", bh, hh, ENERGY_DERIVED)
    if bool(bid) == bool(hid) or not (base.get("cpu") or head.get("cpu")):
        return None
    unknown, note = "not recorded (an older run file)", "energy compared as the same hardware on the model name alone"
    return Mismatch("CPU identity", bid or unknown, hid or unknown, (), note)


def software_differences(base: Mapping[str, str], head: Mapping[str, str]) -> list[Mismatch]:
    """The packages both runs name at different versions: scores and counted cost are
    exact for one CPU and software stack, so a bump can move them (noted, not refused)."""
    changed = sorted(p for p in base.keys() & head.keys() if p != "pytest-cegi" and base[p] != head[p])
    if not changed:
        return []
    return [
        Mismatch(
            "software",
            ", ".join(f"{p} {base[p]}" for p in changed),
            ", ".join(f"{p} {head[p]}" for p in changed),
            (),
            "scores and counted cost can change with the stack",
        )
    ]


def _mismatches(
    base_machine: Mapping[str, Any] | None,
    bm: Method | None,
    head_machine: Mapping[str, Any] | None,
    hm: Method | None,
) -> list[Mismatch]:
    out: list[Mismatch] = []
    # The flops meter models energy from a declared device profile, not the
    # machine it runs on, so its figures stay comparable across hardware.
    deterministic = bm is not None and hm is not None and bm.meter == hm.meter and traits_of(bm.meter).deterministic
    if not deterministic and (hardware := hardware_difference(base_machine, head_machine)):
        out.append(hardware)
    if bm is None or hm is None:  # a run that measured nothing has no meter to differ
        return out
    b_method, h_method = meter_identity(bm), meter_identity(hm)
    if b_method != h_method:
        out.append(Mismatch("meter", b_method, h_method, ENERGY_DERIVED))
    bf, hf = bm.carbon_factor_g_per_kwh, hm.carbon_factor_g_per_kwh
    if isinstance(bf, (int, float)) and isinstance(hf, (int, float)) and not math.isclose(bf, hf, rel_tol=1e-9):
        out.append(
            Mismatch(
                "carbon factor",
                f"{bf:g} g/kWh ({bm.carbon_factor_source})",
                f"{hf:g} g/kWh ({hm.carbon_factor_source})",
                ("emissions", "cegi"),
            )
        )
    return out


@dataclass(frozen=True)
class Environment:
    """What the two runs' environments allow: their mismatches and the quantities
    those make meaningless (refused, unless the caller opted in)."""

    mismatches: list[Mismatch]
    refused: tuple[str, ...]

    @classmethod
    def between(
        cls,
        base_machine: Mapping[str, Any] | None,
        base_meter: Method | None,
        head_machine: Mapping[str, Any] | None,
        head_meter: Method | None,
        *,
        allow_energy_mismatch: bool = False,
    ) -> Environment:
        mismatches = _mismatches(base_machine, base_meter, head_machine, head_meter)
        refused = (
            () if allow_energy_mismatch else tuple(q for q in QUANTITIES if any(q in m.refuses for m in mismatches))
        )
        return cls(mismatches, refused)


# What the 4-bit kernel path changes: the tokens generated, so the score and what is
# computed from it (counted work stays the same: the same layers run on either path).
KERNEL_PATH_REFUSES = ("score", "cegi")


def kernel_path_difference(base: Record, head: Record) -> str | None:
    """Why a 4-bit record's score cannot be judged against its twin's: they ran on
    different bitsandbytes kernel paths (the packed AVX512-BF16 one and the generic
    one generate different text), or None."""
    b, h = base.variant_meta.get("kernel_path"), head.variant_meta.get("kernel_path")
    if not (isinstance(b, str) and isinstance(h, str)) or b == h:
        return None
    return (
        f"score not compared: 4-bit kernel path differs (baseline {b}, this run {h}); a kernel path "
        'changes the generated text, not the model: set kernel_path = "portable" in [tool.cegi] '
        "(--cegi-kernel-path portable) in both runs, or record the baseline on this path"
    )


# Fingerprint keys (core.record.FINGERPRINT_KEYS and the kernel path) as people read them.
FINGERPRINT_LABELS = {
    "torch_threads": "torch threads",
    "attn_implementation": "attention implementation",
    "model_dtype": "model dtype",
    "flop_dtypes": "matmul dtype classes",
    "batch_sizes": "batch sizes",
    "kernel_path": "4-bit kernel path",
}


def configuration_differences(base: Record, head: Record) -> list[str]:
    """What changed in the configuration the counted work ran under, one line per
    fingerprint key both runs recorded ("batch sizes: 16 -> 1")."""
    b, h = base.fingerprint(), head.fingerprint()
    out = []
    for key, label in FINGERPRINT_LABELS.items():
        if key in b and key in h and b[key] != h[key]:
            out.append(f"{label}: {_values(b[key])} -> {_values(h[key])}")
    return out


def _values(values: list[Any]) -> str:
    shown = ", ".join(str(v) for v in values[:8])
    return shown + (f", ... ({len(values)} values)" if len(values) > 8 else "")
