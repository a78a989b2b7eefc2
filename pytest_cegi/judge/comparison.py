"""The comparison engine: a run against its baseline, test by test.

    run = run_file.load_run("benchmarks/baseline.json")   # BaselineError on any problem
    result = compare(run, head_run, {"emissions": "15%"})
    result.regressions()                                  # RecordComparison list

Records match by node id, then by (task, variant), so renaming a test file keeps
its history. Runs from different hardware or meters, or with different carbon
factors, are flagged; the quantities those differences make meaningless are not
compared unless the caller opts in (`allow_energy_mismatch=True`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pytest_cegi.core.record import Check, Record
from pytest_cegi.core.units import Tolerance, parse_tolerance
from pytest_cegi.core.window import meter_identity
from pytest_cegi.judge.regression import (
    ENERGY_DERIVED,
    QUANTITIES,
    QuantityDelta,
    Tolerances,
    judge,
    resolve_rules,
)

# -- environment ---------------------------------------------------------------


@dataclass(frozen=True)
class Mismatch:
    """A difference between the two runs' environments."""

    kind: str  # "hardware", "meter", "carbon factor"
    base: str
    head: str
    refuses: tuple[str, ...]  # quantities it makes meaningless

    def describe(self) -> str:
        return f"{self.kind} differs: baseline {self.base}, this run {self.head}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "base": self.base, "head": self.head, "refuses": list(self.refuses)}


def run_meter(run: dict[str, Any]) -> dict[str, Any]:
    """The run's meter description (Method dict); {} when it has none."""
    meter: dict[str, Any] | None = run.get("meter")
    if meter:
        return meter
    for rec in run.get("records", []):  # older writers: take it from a record
        method: dict[str, Any] | None = rec.get("method")
        if method:
            return method
    return {}


def _hardware(machine: dict[str, Any] | None) -> str | None:
    machine = machine or {}
    if not machine.get("cpu") and not machine.get("gpus"):
        return None
    gpus = ", ".join(sorted(machine.get("gpus") or [])) or "no GPU"
    return f"{machine.get('cpu') or 'unknown CPU'}; {gpus}"


def environment_mismatches(base: dict[str, Any], head: dict[str, Any]) -> list[Mismatch]:
    """The differences between two runs' environments (hardware, meter, carbon factor)."""
    return _mismatches(base.get("machine"), run_meter(base), head.get("machine"), run_meter(head))


def _mismatches(
    base_machine: dict[str, Any] | None, bm: dict[str, Any], head_machine: dict[str, Any] | None, hm: dict[str, Any]
) -> list[Mismatch]:
    out: list[Mismatch] = []
    # The flops meter models energy from a declared device profile, not the
    # machine it runs on, so its figures stay comparable across hardware.
    deterministic = bm.get("meter") == hm.get("meter") == "flops"
    bh, hh = _hardware(base_machine), _hardware(head_machine)
    if bh and hh and bh != hh and not deterministic:
        out.append(Mismatch("hardware", bh, hh, ENERGY_DERIVED))
    b_method = meter_identity(bm)
    h_method = meter_identity(hm)
    if bm and hm and b_method != h_method:
        out.append(Mismatch("meter", b_method, h_method, ENERGY_DERIVED))
    bf, hf = bm.get("carbon_factor_g_per_kwh"), hm.get("carbon_factor_g_per_kwh")
    if isinstance(bf, (int, float)) and isinstance(hf, (int, float)) and not math.isclose(bf, hf, rel_tol=1e-9):
        out.append(
            Mismatch(
                "carbon factor",
                f"{bf:g} g/kWh ({bm.get('carbon_factor_source', '?')})",
                f"{hf:g} g/kWh ({hm.get('carbon_factor_source', '?')})",
                ("emissions", "cegi"),
            )
        )
    return out


# -- comparison ----------------------------------------------------------------

STATUS_ORDER = ("regression", "removed", "improvement", "added", "unchanged")


@dataclass
class RecordComparison:
    task: str
    variant: str
    nodeid: str
    base: dict[str, Any] | None  # the record dicts as saved
    head: dict[str, Any] | None
    status: str  # one of STATUS_ORDER
    deltas: dict[str, QuantityDelta] = field(default_factory=dict)  # by quantity

    @property
    def reasons(self) -> list[str]:
        return [d.reason for d in self.deltas.values() if d.status in ("regression", "improvement")]

    def checks(self) -> list[Check]:
        """Regression rules as budget checks, e.g. limit "regression:emissions"."""
        out: list[Check] = []
        for d in self.deltas.values():
            if d.rule is None or d.status == "not compared":
                continue
            threshold = None
            if d.base is not None:
                allowed = d.rule.tolerance.allowed_increase(d.base)
                higher_better = d.quantity == "score" and (self.head or {}).get("higher_is_better", True)
                threshold = d.base - allowed if higher_better else d.base + allowed
            out.append(
                Check(
                    limit=f"regression:{d.quantity}",
                    threshold=threshold,
                    value=d.head,
                    source=d.rule.source,
                    status="fail" if d.status == "regression" else "pass",
                    message=d.reason,
                )
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "variant": self.variant,
            "nodeid": self.nodeid,
            "status": self.status,
            "reasons": self.reasons,
            "deltas": {q: d.to_dict() for q, d in self.deltas.items()},
        }


@dataclass
class Comparison:
    records: list[RecordComparison]  # regressions first
    mismatches: list[Mismatch]
    refused: tuple[str, ...]  # quantities not compared because of mismatches
    allow_energy_mismatch: bool = False
    base_created: str | None = None

    def by_status(self, status: str) -> list[RecordComparison]:
        return [r for r in self.records if r.status == status]

    def regressions(self) -> list[RecordComparison]:
        return self.by_status("regression")

    def improvements(self) -> list[RecordComparison]:
        return self.by_status("improvement")

    def counts(self) -> dict[str, int]:
        return {s: len(self.by_status(s)) for s in STATUS_ORDER}

    @property
    def unrepeated(self) -> bool:
        """True when some energy-derived change was judged on single samples."""
        return any(d.unrepeated for r in self.records for d in r.deltas.values())

    def failed(self, fail_on: set[str]) -> list[str]:
        """Reasons to fail for the chosen triggers: quantity names, "removed", "mismatch"."""
        out: list[str] = []
        for r in self.records:
            for d in r.deltas.values():
                if d.status == "regression" and d.quantity in fail_on:
                    out.append(f"{r.task} / {r.variant}: {d.reason}")
            if r.status == "removed" and "removed" in fail_on:
                out.append(f"{r.task} / {r.variant}: removed since the baseline")
        if "mismatch" in fail_on:
            out.extend(m.describe() for m in self.mismatches)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "counts": self.counts(),
            "mismatches": [m.to_dict() for m in self.mismatches],
            "refused": list(self.refused),
            "allow_energy_mismatch": self.allow_energy_mismatch,
            "unrepeated": self.unrepeated,
            "base_created": self.base_created,
            "records": [r.to_dict() for r in self.records],
        }


# A baseline record and its head twin (the record dicts as saved); None where unmatched.
RecordPair = tuple[dict[str, Any] | None, dict[str, Any] | None]


def match_records(base: list[dict[str, Any]], head: list[dict[str, Any]]) -> list[RecordPair]:
    """(base, head) pairs: by node id first, then by (task, variant); None where unmatched."""
    pairs: list[RecordPair]
    pairs, left = [], list(base)
    unmatched_head: list[dict[str, Any]] = []
    by_id: dict[str, dict[str, Any]] = {}
    for rec in left:
        by_id.setdefault(rec["nodeid"], rec)
    for rec in head:
        twin = by_id.pop(rec["nodeid"], None)
        if twin is not None:
            left.remove(twin)
            pairs.append((twin, rec))
        else:
            unmatched_head.append(rec)
    for rec in unmatched_head:
        twin = next((b for b in left if (b["task"], b["variant"]) == (rec["task"], rec["variant"])), None)
        if twin is not None:
            left.remove(twin)
        pairs.append((twin, rec))
    pairs.extend((b, None) for b in left)
    return pairs


@dataclass(frozen=True)
class Environment:
    """What the two runs' environments allow: their mismatches and the quantities
    those make meaningless (refused, unless the caller opted in)."""

    mismatches: list[Mismatch]
    refused: tuple[str, ...]

    @classmethod
    def between(
        cls,
        base_machine: dict[str, Any] | None,
        base_meter: dict[str, Any],
        head_machine: dict[str, Any] | None,
        head_meter: dict[str, Any],
        *,
        allow_energy_mismatch: bool = False,
    ) -> Environment:
        mismatches = _mismatches(base_machine, base_meter, head_machine, head_meter)
        refused = (
            () if allow_energy_mismatch else tuple(q for q in QUANTITIES if any(q in m.refuses for m in mismatches))
        )
        return cls(mismatches, refused)


def compare_record(
    base_rec: dict[str, Any] | None, head_rec: dict[str, Any] | None, tolerances: Tolerances, env: Environment
) -> RecordComparison:
    """One test against its baseline twin (None where there is none): the engine
    behind both the per-test regression checks and the session's comparison."""
    shown = head_rec or base_rec
    assert shown is not None
    result = RecordComparison(shown["task"], shown["variant"], shown["nodeid"], base_rec, head_rec, "")
    if base_rec is None or head_rec is None:
        result.status = "added" if base_rec is None else "removed"
        return result
    base, head = Record.from_dict(base_rec), Record.from_dict(head_rec)
    rules = resolve_rules(tolerances, head_rec)
    for q in QUANTITIES:
        why = None
        if q in env.refused:
            kinds = " and ".join(m.kind for m in env.mismatches if q in m.refuses)
            why = (
                f"{q} not compared: baseline {kinds} differs "
                f"(opt in with --cegi-allow-energy-mismatch, or --allow-energy-mismatch "
                f"for pytest-cegi compare)"
            )
        result.deltas[q] = judge(q, base, head, rules[q], refused=why)
    statuses = {d.status for d in result.deltas.values()}
    result.status = (
        "regression" if "regression" in statuses else "improvement" if "improvement" in statuses else "unchanged"
    )
    return result


def compare(
    base_run: dict[str, Any],
    head_run: dict[str, Any],
    tolerances: Tolerances = None,
    *,
    allow_energy_mismatch: bool = False,
) -> Comparison:
    """Compare every record of head_run with its baseline twin.

    tolerances: {quantity: tolerance} or a callable record_dict -> that mapping
    (for per-budget-entry tolerances); see regression.resolve_rules.
    """
    env = Environment.between(
        base_run.get("machine"),
        run_meter(base_run),
        head_run.get("machine"),
        run_meter(head_run),
        allow_energy_mismatch=allow_energy_mismatch,
    )
    pairs = match_records(base_run.get("records", []), head_run.get("records", []))
    results = [compare_record(base_rec, head_rec, tolerances, env) for base_rec, head_rec in pairs]
    results.sort(key=lambda r: (STATUS_ORDER.index(r.status), r.task, r.variant))
    return Comparison(results, env.mismatches, env.refused, allow_energy_mismatch, base_run.get("created"))


def compare_one(
    base_run: dict[str, Any],
    head_record: dict[str, Any],
    tolerances: Tolerances = None,
    *,
    machine: dict[str, Any] | None = None,
    meter: dict[str, Any] | None = None,
    allow_energy_mismatch: bool = False,
) -> RecordComparison:
    """Compare a single finished test with the baseline (for failing that test).

    machine / meter describe the current run (run_file.machine_info(), the
    meter's Method.to_dict()) so environment mismatches are caught per test too.
    Returns a comparison with status "added" when the baseline has no twin.
    """
    env = Environment.between(
        base_run.get("machine"),
        run_meter(base_run),
        machine,
        meter or {},
        allow_energy_mismatch=allow_energy_mismatch,
    )
    twin = match_records(base_run.get("records", []), [head_record])[0][0]
    return compare_record(twin, head_record, tolerances, env)


ToleranceSpec = dict[str, "tuple[Tolerance, str] | None"]


def record_tolerances(
    settings: dict[str, Any], overrides: dict[str, tuple[Tolerance, str]] | None = None
) -> Callable[[dict[str, Any]], ToleranceSpec]:
    """record dict -> {quantity: (Tolerance, source) | None} for the regression rules.

    settings: a run's saved settings (`Settings.as_dict()`): its max_regression and
    their sources (runs written before sources were saved say "saved run settings").
    Then the record's own budget entry (None where it lifted a rule with `false`),
    then overrides {quantity: (Tolerance, source)} (`pytest-cegi --max-regression`).
    """
    saved = settings.get("max_regression") or {}
    sources = settings.get("max_regression_sources") or {}
    base = {q: (parse_tolerance(v), sources.get(q, "saved run settings")) for q, v in saved.items()}

    def for_record(record: dict[str, Any]) -> ToleranceSpec:
        spec: ToleranceSpec = dict(base)
        own = record.get("max_regression_source") or "budget entry"
        for q, text in (record.get("max_regression") or {}).items():
            spec[q] = None if text is None else (parse_tolerance(text), f"{own} max_regression")
        spec.update(overrides or {})
        return spec

    return for_record
