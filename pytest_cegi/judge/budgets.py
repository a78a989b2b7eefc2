"""Limits -> checks -> verdict.

A test's limits come from its `@pytest.mark.cegi(...)` marker and from every
`[[tool.cegi.budget]]` entry that matches it; an entry overrides the marker for the
same limit, and later entries override earlier ones. An entry may set a limit to
`false`: "no such limit here", which lifts the marker's (or an earlier entry's).
Each limit remembers its source so failure messages and reports can say where it
came from.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pytest_cegi.core import formula as cegi_math
from pytest_cegi.core.record import Check, Record, ShownLimit
from pytest_cegi.core.settings import LIFTED, LIMIT_PARSERS, BudgetEntry, Limit, SettingsError, parse_limit
from pytest_cegi.core.units import format_energy, format_mass

MARKER_KEYS = ("task", "metric", "reference", "higher_is_better", *LIMIT_PARSERS, "max_regression", "deployment")


@dataclass(frozen=True)
class Spec:
    """Everything the marker and budget files say about one test."""

    task: str
    metric: str | None = None
    reference: bool | None = None
    higher_is_better: bool | None = None
    limits: dict[str, Limit] = field(default_factory=dict)  # the limits in force
    lifted: dict[str, str] = field(default_factory=dict)  # name -> source of the `false` that lifted it

    def value(self, name: str, default: Any = None) -> Any:
        """The limit's parsed value (its type depends on the limit: settings.parse_limit)."""
        limit = self.limits.get(name)
        return limit.value if limit is not None else default


def parse_marker(nodeid: str, args: tuple[object, ...], kwargs: dict[str, object]) -> dict[str, Any]:
    """Validate a cegi marker's arguments; errors name the test and the keyword."""
    source = f"{nodeid}: @pytest.mark.cegi"
    if args:
        raise SettingsError(f"{source}: takes keyword arguments only, got positional {args!r}")
    out: dict[str, Any] = {}
    for key, value in kwargs.items():
        if key not in MARKER_KEYS:
            raise SettingsError(f"{source}: unknown keyword {key!r}; expected one of {', '.join(MARKER_KEYS)}")
        if key in ("task", "metric"):
            if not isinstance(value, str) or not value:
                raise SettingsError(f"{source}: {key} must be a non-empty string, got {value!r}")
            out[key] = value
        elif key in ("reference", "higher_is_better"):
            if not isinstance(value, bool):
                raise SettingsError(f"{source}: {key} must be True or False, got {value!r}")
            out[key] = value
        elif value is not None:
            out[key] = parse_limit(source, key, value)
    return out


def resolve(nodeid: str, default_task: str, marker: dict[str, Any], entries: Iterable[BudgetEntry]) -> Spec:
    task = marker.get("task", default_task)
    limits = {
        k: Limit(v, "marker") for k, v in marker.items() if k not in ("task", "metric", "reference", "higher_is_better")
    }
    lifted: dict[str, str] = {}
    for entry in entries:
        if entry.applies_to(nodeid, task):
            for k, v in entry.limits.items():
                if v is LIFTED:
                    limits.pop(k, None)
                    lifted[k] = entry.source
                else:
                    limits[k] = Limit(v, entry.source)
                    lifted.pop(k, None)
    return Spec(
        task=task,
        metric=marker.get("metric"),
        reference=marker.get("reference"),
        higher_is_better=marker.get("higher_is_better"),
        limits=limits,
        lifted=lifted,
    )


# Limits shown beside each test's figures in the reports (record.limits).
SHOWN_LIMITS = ("floor", "ceiling", "max_emissions", "max_energy")


def limits_table(spec: Spec) -> dict[str, ShownLimit]:
    """{name: {"value", "source"}} of the shown limits; value None: lifted by `false`."""
    out: dict[str, ShownLimit] = {}
    for name in SHOWN_LIMITS:
        if name in spec.limits:
            out[name] = {"value": spec.limits[name].value, "source": spec.limits[name].source}
        elif name in spec.lifted:
            out[name] = {"value": None, "source": spec.lifted[name]}
    return out


# A candidate of a sharded run whose task's reference ran in another shard: no gain or
# CEGI yet, and no ceiling check; `pytest-cegi merge` computes them (resolve_reference).
REFERENCE_ELSEWHERE = (
    "the task's reference ran in another shard: gain and CEGI are computed by `pytest-cegi merge`, "
    "which also judges the CEGI ceiling"
)


def finish(
    record: Record,
    spec: Spec,
    reference_score: float | None,
    *,
    error: str | None = None,
    reference_elsewhere: bool = False,
) -> None:
    """Fill gain, CEGI and the budget checks on `record`. The verdict is left to the
    caller (`set_verdict`), once every check, regressions included, is known.

    `reference_score` is the score of this session's reference test of the task, if any;
    an explicit `reference_score` limit wins over it. `error`: what the test raised
    (e.g. "ValueError: boom"); the verdict is then "error", and the checks that only
    failed because the test stopped early (no score, no window) are left out, so
    they cannot hide the real exception.

    `reference_elsewhere`: a shard's candidate whose reference ran in another shard;
    gain and CEGI wait for `pytest-cegi merge` (see `resolve_reference`).
    """
    explicit = spec.limits.get("reference_score")
    if explicit is not None:
        reference_score = explicit.value
        reference_elsewhere = False
    record.gain_mode = spec.value("gain", "relative")
    record.phases_counted = list(spec.value("phases")) if spec.value("phases") else None
    record.error = error
    outcome = _score_against_reference(record, reference_score, pending=reference_elsewhere)
    record.limits = limits_table(spec)
    record.checks = _checks(record, spec, outcome)
    if reference_elsewhere and record.score is not None:
        record.checks = [c for c in record.checks if c.limit != "ceiling"]
        record.notes.append(REFERENCE_ELSEWHERE)
    record.deployment = spec.value("deployment")
    tolerances = spec.limits.get("max_regression")
    if tolerances is not None:
        # None per quantity: that regression rule lifted with `false`
        record.max_regression = {k: (t.text if t is not None else None) for k, t in tolerances.value.items()}
        record.max_regression_source = tolerances.source
    elif "max_regression" in spec.lifted:
        from pytest_cegi.judge.regression import QUANTITIES

        record.max_regression = {q: None for q in QUANTITIES}
        record.max_regression_source = spec.lifted["max_regression"]


def _score_against_reference(record: Record, reference_score: float | None, *, pending: bool) -> cegi_math.Outcome:
    """Fill the record's reference score, gain, CEGI and carbon per gain; the CEGI outcome."""
    record.reference_score = reference_score
    gain = _gain(record, reference_score)
    if record.reference and reference_score is None and record.score is not None:
        gain = cegi_math.Outcome(0.0)  # the reference's gain over itself
    elif pending and gain.value is None and record.score is not None:
        gain = cegi_math.Outcome(None, REFERENCE_ELSEWHERE)
    record.gain_pct = gain.value
    outcome = cegi_math.cegi(record.emissions_kg, gain, record.trainable_params, gain_mode=record.gain_mode)
    record.cegi, record.cegi_reason = outcome.value, outcome.reason
    record.cegi_applicable = outcome.applicable
    record.carbon_per_gain = cegi_math.carbon_per_gain(record.emissions_kg, gain, gain_mode=record.gain_mode).value
    return outcome


def resolve_reference(record: Record, reference_score: float | None, *, enforce: bool) -> None:
    """Judge a finished record against a reference score found after its session ended
    (`pytest-cegi merge`: the reference ran in another shard), by the rules `finish`
    applies in a session: gain, CEGI and carbon per gain, the ceiling check from the
    record's shown limits, then the verdict. A regression check of CEGI made without the
    reference is dropped: `pytest-cegi compare` judges the merged figure."""
    outcome = _score_against_reference(record, reference_score, pending=False)
    checks = [c for c in record.checks if c.limit != "regression:cegi"]
    at = next((i for i, c in enumerate(checks) if c.limit == "ceiling"), None)
    checks = [c for c in checks if c.limit != "ceiling"]
    shown = record.limits.get("ceiling")
    errored = record.error is not None
    if (
        shown is not None
        and shown["value"] is not None
        and not record.reference
        and outcome.applicable
        and not (errored and not outcome.defined)
    ):
        check = _ceiling_check(outcome, Limit(shown["value"], shown["source"]))
        checks.insert(len(checks) if at is None else at, check)
    record.checks = checks
    record.notes = [n for n in record.notes if n != REFERENCE_ELSEWHERE]
    set_verdict(record, enforce=enforce)


def set_verdict(record: Record, *, enforce: bool) -> None:
    """error (the test itself raised) > invalid > fail (warn when budgets are not
    enforced) > pass."""
    statuses = {c.status for c in record.checks}
    if record.error is not None:
        record.verdict = "error"
    elif "invalid" in statuses:
        record.verdict = "invalid"
    elif "fail" in statuses:
        record.verdict = "fail" if enforce else "warn"
    else:
        record.verdict = "pass"


def _gain(record: Record, reference_score: float | None) -> cegi_math.Outcome:
    if record.score is None:
        return cegi_math.Outcome(None, "no score recorded")
    if reference_score is None:
        return cegi_math.Outcome(
            None,
            f"no reference score for task {record.task!r} (no reference test ran, or it recorded no score); "
            f"mark the task's reference test with `reference=True` on its cegi marker or "
            f"`Variant(..., reference=True)`, or give `reference_score=` on the marker",
        )
    return cegi_math.gain_pct(
        record.score, reference_score, mode=record.gain_mode, higher_is_better=record.higher_is_better
    )


def _checks(record: Record, spec: Spec, outcome: cegi_math.Outcome) -> list[Check]:
    checks: list[Check] = []
    if record.error is not None:
        stage = "before measuring anything" if not record.windows else "after measuring"
        checks.append(
            Check(
                "test",
                None,
                None,
                "test",
                "invalid",
                f"the test raised {record.error} {stage}; its cegi figures are incomplete",
            )
        )
    for reason in record.invalid_reasons():
        checks.append(Check("measurement", None, None, "meter", "invalid", reason))
    # A crashed test's missing window or score is the crash's consequence, not news.
    errored = record.error is not None
    phases = spec.limits.get("phases")
    if phases is not None and not errored:
        checks += _phases_check(record, phases)
    needs_window = [k for k in ("ceiling", "max_emissions", "max_energy") if k in spec.limits]
    if needs_window and not record.windows and not errored:
        checks.append(
            Check(
                "measurement",
                None,
                None,
                spec.limits[needs_window[0]].source,
                "invalid",
                f"{needs_window[0]} is set but the test measured nothing (use cegi.measure())",
            )
        )

    floor = spec.limits.get("floor")
    if floor is not None and not (errored and record.score is None):
        checks.append(_floor_check(record, floor))
    ceiling = spec.limits.get("ceiling")
    # No ceiling for the reference, nor for a variant nothing was trained for (T_M = 0).
    if ceiling is not None and not record.reference and outcome.applicable and not (errored and not outcome.defined):
        checks.append(_ceiling_check(outcome, ceiling))
    if record.windows:
        for key, value, fmt in (
            ("max_emissions", record.emissions_kg, format_mass),
            ("max_energy", record.energy_kwh, format_energy),
        ):
            limit = spec.limits.get(key)
            if limit is not None:
                label = key.removeprefix("max_")
                ok = value <= limit.value
                checks.append(
                    Check(
                        key,
                        limit.value,
                        value,
                        limit.source,
                        "pass" if ok else "fail",
                        "" if ok else f"{label} {fmt(value)} > {key} {fmt(limit.value)} ({limit.source})",
                    )
                )
    return checks


def _phases_check(record: Record, phases: Limit) -> list[Check]:
    """`phases` naming a phase the test has no window for would count 0 energy and pass
    every emission limit and ceiling: invalid, never a silent pass."""
    measured = sorted({w.phase for w in record.windows})
    missing = [p for p in phases.value if p not in measured]
    if not missing:
        return []
    return [
        Check(
            "phases",
            None,
            None,
            phases.source,
            "invalid",
            f"phases names {', '.join(map(repr, missing))} but the test measured no such window "
            f"(measured: {', '.join(measured) or 'nothing'}), so its energy would count as 0 "
            f"({phases.source})",
        )
    ]


def _floor_check(record: Record, floor: Limit) -> Check:
    if record.score is None:
        return Check(
            "floor",
            floor.value,
            None,
            floor.source,
            "invalid",
            f"floor {floor.value:g} set but no score recorded (call cegi.record_score or cegi.score)",
        )
    if record.higher_is_better:
        ok, op = record.score >= floor.value, "<"
    else:  # for lower-is-better metrics the floor is the worst acceptable value, a maximum
        ok, op = record.score <= floor.value, ">"
    message = "" if ok else f"score {record.score:.4g} {op} floor {floor.value:g} ({floor.source})"
    return Check("floor", floor.value, record.score, floor.source, "pass" if ok else "fail", message)


def _ceiling_check(outcome: cegi_math.Outcome, ceiling: Limit) -> Check:
    if outcome.value is None:
        return Check(
            "ceiling",
            ceiling.value,
            None,
            ceiling.source,
            "fail",
            f"CEGI undefined: {outcome.reason} (ceiling {ceiling.value:.2g}, {ceiling.source})",
        )
    ok = outcome.value <= ceiling.value
    message = "" if ok else f"CEGI {outcome.value:.2e} > ceiling {ceiling.value:.2e} ({ceiling.source})"
    return Check("ceiling", ceiling.value, outcome.value, ceiling.source, "pass" if ok else "fail", message)


def failure_messages(record: Record) -> list[str]:
    return [c.message for c in record.checks if c.status in ("fail", "invalid") and c.message]
