"""The comparison engine: a run against its baseline, test by test.

    run = run_file.load_run("benchmarks/baseline.json")   # BaselineError on any problem
    result = compare(run, head_run, {"emissions": "15%"})  # run dicts or typed core.run.Run
    result.regressions()                                  # RecordComparison list

Records match by node id, then by (task, variant), so renaming a test file keeps
its history. Runs from different hardware or meters, or with different carbon
factors, are flagged; the quantities those differences make meaningless are not
compared unless the caller opts in (`allow_energy_mismatch=True`).

The plugin compares each test as it finishes (its regression checks) and then the
whole run (the report) through one `Baseline`, which compares every test once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pytest_cegi.core.record import Check, Record
from pytest_cegi.core.run import Run, SavedRecord
from pytest_cegi.core.tolerances import SINGLE_SAMPLE
from pytest_cegi.core.units import Tolerance, parse_tolerance
from pytest_cegi.core.window import Method
from pytest_cegi.judge.environment import (
    KERNEL_PATH_REFUSES,
    Environment,
    Mismatch,
    configuration_differences,
    kernel_path_difference,
    software_differences,
)
from pytest_cegi.judge.regression import (
    QUANTITIES,
    QuantityDelta,
    Tolerances,
    ToleranceSpec,
    judge,
    resolve_rules,
)

# "error": the test raised in this run, or lost a figure its baseline twin has (a score,
# a cost): a failing change, never "unchanged". "not compared": no quantity could be.
STATUS_ORDER = ("error", "regression", "removed", "improvement", "added", "not compared", "unchanged")


@dataclass
class RecordComparison:
    task: str
    variant: str
    nodeid: str
    base: SavedRecord | None  # the baseline's record; None for a test added since
    head: SavedRecord | None  # this run's record; None for a test removed since
    status: str  # one of STATUS_ORDER
    deltas: dict[str, QuantityDelta] = field(default_factory=dict)  # by quantity
    # How the configuration the work ran under changed ("torch threads: 2 -> 1"): the
    # usual explanation of a modelled or measured change.
    configuration: list[str] = field(default_factory=list)

    @property
    def reasons(self) -> list[str]:
        error = self.head.record.error if self.head is not None else None
        raised = [f"the test raised in this run: {error or 'error'}"] if self.raised else []
        return raised + [d.reason for d in self.deltas.values() if d.status in ("regression", "lost", "improvement")]

    @property
    def raised(self) -> bool:
        return self.head is not None and (self.head.record.verdict == "error" or bool(self.head.record.error))

    def checks(self) -> list[Check]:
        """Regression rules as budget checks, e.g. limit "regression:emissions"."""
        out: list[Check] = []
        for d in self.deltas.values():
            if d.rule is None or d.status == "not compared":
                continue
            threshold = None
            # The figures the rule compared: the record's, or a phase's lowest repeats
            base, value = d.judged if d.judged is not None else (d.base, d.head)
            if base is not None:
                allowed = d.rule.tolerance.allowed_increase(base)
                higher_better = d.quantity == "score" and (self.head is None or self.head.record.higher_is_better)
                threshold = base - allowed if higher_better else base + allowed
            failed = d.status in ("regression", "lost")
            message = d.reason
            if failed and self.configuration and d.quantity != "score":
                message += f" (configuration changed: {'; '.join(self.configuration)})"
            out.append(
                Check(
                    limit=f"regression:{d.quantity}",
                    threshold=threshold,
                    value=value,
                    source=d.rule.source,
                    status="fail" if failed else "pass",
                    message=message,
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
            "configuration": list(self.configuration),
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
        """Reasons to fail for the chosen triggers: quantity names, "error", "removed", "mismatch"."""
        out: list[str] = []
        for r in self.records:
            if r.raised and "error" in fail_on:
                out.append(f"{r.task} / {r.variant}: the test raised in this run")
            for d in r.deltas.values():
                lost = d.status == "lost" and "error" in fail_on
                if (d.status in ("regression", "lost") and d.quantity in fail_on) or lost:
                    out.append(f"{r.task} / {r.variant}: {d.reason}")
            if r.status == "removed" and "removed" in fail_on:
                out.append(f"{r.task} / {r.variant}: removed since the baseline")
        if "mismatch" in fail_on:  # a difference that refused a comparison; notes do not fail
            out.extend(m.describe() for m in self.mismatches if m.refuses)
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


# A baseline record and its head twin; None where unmatched.
RecordPair = tuple[SavedRecord | None, SavedRecord | None]


def match_records(base: Sequence[SavedRecord], head: Sequence[SavedRecord]) -> list[RecordPair]:
    """(base, head) pairs: by node id first, then by (task, variant); None where unmatched."""
    pairs: list[RecordPair]
    pairs, left = [], list(base)
    unmatched_head: list[SavedRecord] = []
    by_id: dict[str, SavedRecord] = {}
    for rec in left:
        by_id.setdefault(rec.nodeid, rec)
    for rec in head:
        twin = by_id.pop(rec.nodeid, None)
        if twin is not None:
            left.remove(twin)
            pairs.append((twin, rec))
        else:
            unmatched_head.append(rec)
    for rec in unmatched_head:
        twin = next((b for b in left if (b.task, b.variant) == (rec.task, rec.variant)), None)
        if twin is not None:
            left.remove(twin)
        pairs.append((twin, rec))
    pairs.extend((b, None) for b in left)
    return pairs


def compare_record(
    base: SavedRecord | None, head: SavedRecord | None, tolerances: Tolerances, env: Environment
) -> RecordComparison:
    """One test against its baseline twin (None where there is none)."""
    shown = head or base
    assert shown is not None
    result = RecordComparison(shown.task, shown.variant, shown.nodeid, base, head, "")
    if base is None or head is None:
        result.status = "added" if base is None else "removed"
        return result
    rules = resolve_rules(tolerances, head.record)
    result.configuration = configuration_differences(base.record, head.record)
    kernels = kernel_path_difference(base.record, head.record)
    for q in QUANTITIES:
        why = None
        if kernels and q in KERNEL_PATH_REFUSES:
            why = kernels
        elif q in env.refused:
            kinds = " and ".join(m.kind for m in env.mismatches if q in m.refuses)
            why = (
                f"{q} not compared: baseline {kinds} differs "
                f"(opt in with --cegi-allow-energy-mismatch, or --allow-energy-mismatch "
                f"for pytest-cegi compare)"
            )
        result.deltas[q] = judge(q, base, head, rules[q], refused=why, single=rules[SINGLE_SAMPLE])
    statuses = {d.status for d in result.deltas.values()}
    if result.raised or "lost" in statuses:
        result.status = "error"
    elif statuses & {"regression", "improvement", "unchanged"}:
        result.status = next(s for s in ("regression", "improvement", "unchanged") if s in statuses)
    else:  # every quantity refused or missing: say so rather than "unchanged"
        result.status = "not compared"
    return result


@dataclass
class Baseline:
    """A baseline run, compared with this run's tests one by one as they finish (each
    test's regression checks), then with the whole run (the session's comparison).

    A test is compared once: the whole-run comparison takes each result `compare_test`
    found on this process, where the environment and the baseline twin are the same,
    and compares only the tests it did not see (under pytest-xdist each worker judges
    its own tests, so the controller compares them for the report).
    """

    run: Run
    tolerances: Tolerances = None
    allow_energy_mismatch: bool = False
    _judged: dict[str, tuple[Environment, RecordComparison]] = field(default_factory=dict, init=False, repr=False)

    def environment(self, machine: Mapping[str, Any] | None, meter: Method | None) -> Environment:
        return Environment.between(
            self.run.machine, self.run.meter, machine, meter, allow_energy_mismatch=self.allow_energy_mismatch
        )

    def compare_test(
        self, head: SavedRecord, *, machine: Mapping[str, Any] | None, meter: Method | None
    ) -> RecordComparison:
        """One finished test (status "added" when the baseline has no twin); machine and
        meter describe this run, so environment mismatches are caught per test too."""
        env = self.environment(machine, meter)
        twin = match_records(self.run.records, [head])[0][0]
        result = compare_record(twin, head, self.tolerances, env)
        self._judged[head.nodeid] = (env, result)  # a rerun's last attempt wins
        return result

    def compare_run(self, head: Run) -> Comparison:
        """Every record of `head` with its baseline twin, regressions first.

        Records that name their own machine (a merged run's: each shard ran on its own
        runner) are judged in the environment of that machine and meter against their
        twin's, so measured energy is compared only between the same hardware while
        counted cost and modelled figures compare across it; the others in the run's."""
        run_env = self.environment(head.machine, head.meter)
        envs: list[Environment] = [run_env]
        results = []
        for base, rec in match_records(self.run.records, head.records):
            env = run_env
            if _own_machine(base) or _own_machine(rec):
                env = Environment.between(
                    *_where(base, self.run),
                    *_where(rec, head),
                    allow_energy_mismatch=self.allow_energy_mismatch,
                )
                if env not in envs:
                    envs.append(env)
            results.append(self._compared(base, rec, env))
        results.sort(key=lambda r: (STATUS_ORDER.index(r.status), r.task, r.variant))
        if len(envs) == 1:
            mismatches, refused = list(run_env.mismatches), run_env.refused
        else:  # per-record environments: the distinct mismatches, and what any of them refused
            per_record = envs[1:] if not any(_own_machine(r) is None for r in head.records) else envs
            mismatches = list({m.describe(): m for e in per_record for m in e.mismatches}.values())
            refused = tuple(q for q in QUANTITIES if any(q in e.refused for e in per_record))
        mismatches += software_differences(_stack(self.run), _stack(head))
        return Comparison(results, mismatches, refused, self.allow_energy_mismatch, self.run.created)

    def _compared(self, base: SavedRecord | None, head: SavedRecord | None, env: Environment) -> RecordComparison:
        judged = self._judged.get(head.nodeid) if head is not None else None
        if judged is not None and judged[0] == env and judged[1].base is base:
            return replace(judged[1], head=head)  # the same judgement, beside the record as saved
        return compare_record(base, head, self.tolerances, env)


def _own_machine(rec: SavedRecord | None) -> Mapping[str, Any] | None:
    """The machine a record names itself (a merged run's records do), or None."""
    return rec.record.machine if rec is not None and rec.record.machine else None


def _where(rec: SavedRecord | None, run: Run) -> tuple[Mapping[str, Any] | None, Method | None]:
    """(machine, meter) a record ran with: its own where it names them, else its run's."""
    if rec is None:
        return run.machine, run.meter
    return _own_machine(rec) or run.machine, (rec.record.method if rec.record.machine else None) or run.meter


def _stack(run: Run) -> dict[str, str]:
    """The software a run names: its packages and the Python that ran them."""
    python = run.machine.get("python")
    return {**run.packages, **({"python": python} if python else {})}


def _typed(run: Run | Mapping[str, Any]) -> Run:
    return run if isinstance(run, Run) else Run.from_dict(run)


def compare(
    base_run: Run | Mapping[str, Any],
    head_run: Run | Mapping[str, Any],
    tolerances: Tolerances = None,
    *,
    allow_energy_mismatch: bool = False,
) -> Comparison:
    """Compare every record of head_run with its baseline twin; either run typed
    (core.run.Run) or as loaded (a run dict, typed here).

    tolerances: {quantity: tolerance} or a callable Record -> that mapping
    (for per-budget-entry tolerances); see regression.resolve_rules.
    """
    baseline = Baseline(_typed(base_run), tolerances, allow_energy_mismatch=allow_energy_mismatch)
    return baseline.compare_run(_typed(head_run))


def saved_tolerances(settings: Mapping[str, Any]) -> dict[str, tuple[Tolerance, str]]:
    """A saved run's max_regression, parsed, each with its source (runs written before
    sources were saved say "saved run settings")."""
    saved = settings.get("max_regression") or {}
    sources = settings.get("max_regression_sources") or {}
    return {q: (parse_tolerance(v), sources.get(q, "saved run settings")) for q, v in saved.items()}


def record_tolerances(
    configured: Mapping[str, tuple[Tolerance, str]], overrides: dict[str, tuple[Tolerance, str]] | None = None
) -> Callable[[Record], ToleranceSpec]:
    """Record -> {quantity: (Tolerance, source) | None} for the regression rules.

    configured: {quantity: (Tolerance, source)}, the session's settings
    (`Settings.max_regression`) or a saved run's (`saved_tolerances`). Then the record's
    own budget entry (None where it lifted a rule with `false`), then overrides
    (`pytest-cegi --max-regression`).
    """
    base = dict(configured)

    def for_record(record: Record) -> ToleranceSpec:
        spec: dict[str, tuple[Tolerance, str] | None] = dict(base)
        own = record.max_regression_source or "budget entry"
        for q, text in (record.max_regression or {}).items():
            spec[q] = None if text is None else (parse_tolerance(text), f"{own} max_regression")
        spec.update(overrides or {})
        return spec

    return for_record
