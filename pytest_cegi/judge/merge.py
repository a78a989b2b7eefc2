"""Runs of disjoint shards of one suite, merged into one run (`pytest-cegi merge`).

    shards = [Shard(path, run, written_version) for each loaded file]
    merged = merge_runs(shards)     # MergeError: a usage error naming the file and entry
    merged.run                      # the run dict `compare`, `report` and `update` take

What a merge keeps and checks:

- every record as its shard saved it, plus `shard` (the shard's GROUP/SPLITS label,
  or its file where it declared none) and `machine` (the machine that shard ran on), so
  each record keeps its own machine and meter (its windows' method);
- references across shards: a candidate whose task's reference ran in another shard
  gets its gain, CEGI, ceiling check and verdict here, by the rules a session applies
  (`budgets.resolve_reference`);
- refused (MergeError): a node id in two shards, two shards claiming one group, shards
  declaring different numbers of splits, shards written by different schema versions
  or under different settings, two references for one task, a file that is already
  a merged run;
- marked partial (`incomplete`, which `update` refuses to promote and `compare`
  warns about): a shard whose session stopped early, or a set of declared shards
  that lacks a group. Shards that declare no group cannot show a missing one: the
  merged run says so in its warnings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_cegi.core.record import Record
from pytest_cegi.core.run_file import SCHEMA, SCHEMA_VERSION, build_run
from pytest_cegi.judge import budgets

_NO_MATCH = "matches no test in this run"  # gate.run_warnings' text for an unused budget entry
_HARDWARE_KEYS = ("cpu", "cpu_id", "cpu_count", "gpus")


class MergeError(Exception):
    """Shards that cannot be merged; the message names the file(s) and the entry."""


@dataclass(frozen=True)
class Shard:
    path: str  # as given on the command line: how messages name it
    run: Mapping[str, Any]  # loaded, migrated and validated (run_file.load_run)
    written_version: int  # the schema_version the file was written with

    @property
    def declared(self) -> Mapping[str, Any] | None:
        shard = self.run.get("shard")
        return shard if isinstance(shard, Mapping) else None

    @property
    def label(self) -> str:
        d = self.declared
        return f"{d['group']}/{d['splits']}" if d else self.path


@dataclass
class Merged:
    run: dict[str, Any]
    resolved: list[str] = field(default_factory=list)  # node ids whose CEGI the merge computed
    failing: list[str] = field(default_factory=list)  # "nodeid: verdict" of records that fail under the settings


def merge_runs(shards: Sequence[Shard]) -> Merged:
    if not shards:
        raise MergeError("nothing to merge: name the shards' run files")
    _same_version(shards)
    _not_merged(shards)
    settings = _same_settings(shards)
    incomplete = _partial(shards)
    records = _records(shards)
    resolved = _resolve_references(records, enforce=bool(settings.get("enforce")))
    first = shards[0].run
    run = build_run(
        [_saved(r, original, r.nodeid in resolved) for r, _, original in records],
        _common(shards, "meter"),
        dict(settings),
        machine=_machine(shards),
    )
    assert run["schema"] == SCHEMA and run["schema_version"] == SCHEMA_VERSION
    run["packages"] = dict(first.get("packages") or {})
    run["warnings"] = _warnings(shards)
    run["shards"] = [_summary(s) for s in shards]
    if incomplete:
        run["incomplete"] = "; ".join(incomplete)
    invalid_fails = settings.get("invalid", "fail") == "fail"
    failing = [
        f"{r.nodeid}: {r.verdict}"
        for r, _, _ in records
        if settings.get("enforce") and (r.verdict == "fail" or (r.verdict == "invalid" and invalid_fails))
    ]
    return Merged(run, resolved, failing)


# -- refusals ----------------------------------------------------------------------------


def _same_version(shards: Sequence[Shard]) -> None:
    first = shards[0]
    for s in shards[1:]:
        if s.written_version != first.written_version:
            raise MergeError(
                f"{s.path}: schema_version {s.written_version}, but {first.path}: schema_version "
                f"{first.written_version}; the shards of one run are written by one pytest-cegi: "
                "rerun the older shards with the same version"
            )


def _not_merged(shards: Sequence[Shard]) -> None:
    for s in shards:
        if s.run.get("shards"):
            raise MergeError(f"{s.path}: already a merged run (it has 'shards'); merge the shards' own run files")


def _same_settings(shards: Sequence[Shard]) -> Mapping[str, Any]:
    """Shards of one suite run under one configuration: their verdicts and tolerances
    must mean the same thing."""
    first = shards[0]
    settings: Mapping[str, Any] = first.run.get("settings") or {}
    for s in shards[1:]:
        other: Mapping[str, Any] = s.run.get("settings") or {}
        for key in sorted(settings.keys() | other.keys()):
            if settings.get(key) != other.get(key):
                raise MergeError(
                    f"{s.path}: settings.{key} is {other.get(key)!r}, but {first.path} has "
                    f"{settings.get(key)!r}; run every shard with the same options and [tool.cegi]"
                )
    return settings


def _partial(shards: Sequence[Shard]) -> list[str]:
    """Why the merged run lacks tests the suite holds ([] when nothing says so);
    MergeError where the declared shards contradict each other."""
    reasons = [f"shard {s.label} ({s.path}): {s.run['incomplete']}" for s in shards if s.run.get("incomplete")]
    declared = [s for s in shards if s.declared]
    if not declared:
        return reasons
    undeclared = [s.path for s in shards if not s.declared]
    if undeclared:
        raise MergeError(
            f"{undeclared[0]}: declares no shard, but {declared[0].path} is shard {declared[0].label}; "
            "run every shard with pytest-split's --splits/--group or --cegi-shard GROUP/SPLITS"
        )
    splits = declared[0].declared["splits"]  # type: ignore[index]
    groups: dict[int, Shard] = {}
    for s in declared:
        d = s.declared
        assert d is not None
        if d["splits"] != splits:
            raise MergeError(
                f"{s.path}: shard {s.label}, but {declared[0].path} is shard {declared[0].label}; "
                "the shards of one run split the suite the same number of ways"
            )
        if d["group"] in groups:
            raise MergeError(
                f"{s.path} and {groups[d['group']].path} are both shard {s.label}: overlapping shards; "
                "merge each group's run file once"
            )
        groups[d["group"]] = s
    missing = [g for g in range(1, splits + 1) if g not in groups]
    if missing:
        reasons.append(
            f"shard(s) {', '.join(f'{g}/{splits}' for g in missing)} missing: {len(groups)} of {splits} shards "
            "were merged (a job failed, or its run file was not uploaded)"
        )
    return reasons


# -- records -----------------------------------------------------------------------------


_Entry = tuple[Record, Shard, Mapping[str, Any]]  # typed record, its shard, the dict as saved


def _records(shards: Sequence[Shard]) -> list[_Entry]:
    """Every shard's records, typed, each naming its shard and machine; a node id in
    two shards is refused."""
    out: list[_Entry] = []
    seen: dict[str, Shard] = {}
    for s in shards:
        for i, d in enumerate(s.run["records"]):
            nodeid = d["nodeid"]
            if nodeid in seen:
                raise MergeError(
                    f"{s.path}: record #{i + 1} ({nodeid}) is also in {seen[nodeid].path}: overlapping shards "
                    "(a test ran in two shards); each test must run in exactly one shard"
                )
            seen[nodeid] = s
            record = Record.from_dict(d)
            record.shard = s.label
            record.machine = record.machine or dict(s.run.get("machine") or {})
            out.append((record, s, d))
    return out


def _saved(record: Record, original: Mapping[str, Any], resolved: bool) -> dict[str, Any]:
    """The record as the merged run stores it: as its shard saved it (keys this version
    does not know included), with its shard and machine, and the figures the merge
    computed where it resolved the reference."""
    if resolved:
        return {**original, **record.to_dict()}
    return {**original, "shard": record.shard, "machine": record.machine}


def _resolve_references(records: list[_Entry], *, enforce: bool) -> list[str]:
    """Gain, CEGI and ceiling of every candidate whose task's reference ran in another
    shard (a session there could not know the reference's score)."""
    references: dict[str, tuple[Record, Shard]] = {}
    for record, shard, _ in records:
        if not record.reference:
            continue
        other = references.get(record.task)
        if other is not None:
            raise MergeError(
                f"{shard.path}: record {record.nodeid} is a reference of task {record.task!r}, and so is "
                f"{other[0].nodeid} in {other[1].path}; a task has one reference (mark one with reference=True)"
            )
        references[record.task] = (record, shard)
    resolved = []
    for record, shard, _ in records:
        found = references.get(record.task)
        waiting = budgets.REFERENCE_ELSEWHERE in record.notes  # a declared shard left it to the merge
        if waiting and (found is None or found[0].score is None):
            # no shard ran a reference with a score: judged as a session without one is
            budgets.resolve_reference(record, None, enforce=enforce)
            resolved.append(record.nodeid)
            continue
        if record.reference or found is None or record.reference_score is not None:
            continue
        reference, where = found
        if where is shard or reference.score is None:
            continue  # the session saw this reference (or it has no score): nothing to add
        budgets.resolve_reference(record, reference.score, enforce=enforce)
        record.notes.append(
            f"reference {reference.nodeid} ran in shard {where.label}: gain and CEGI computed by pytest-cegi merge"
        )
        resolved.append(record.nodeid)
    return resolved


# -- the run's own fields ----------------------------------------------------------------


def _common(shards: Sequence[Shard], key: str) -> Any:
    """The shards' value of `key` when they all agree, else None (each record keeps its own)."""
    values = [s.run.get(key) for s in shards]
    return values[0] if all(v == values[0] for v in values) else None


def _machine(shards: Sequence[Shard]) -> dict[str, Any]:
    """The shards' machine when they share its hardware, else one that says there are
    several (records keep their own: comparisons use those)."""
    machines = [dict(s.run.get("machine") or {}) for s in shards]
    if all(_hardware(m) == _hardware(machines[0]) for m in machines):
        return machines[0]
    cpus = sorted({str(m.get("cpu") or "unknown CPU") for m in machines})
    return {"cpu": f"{len(machines)} machines: {'; '.join(cpus)} (each record names its own)", "gpus": []}


def _hardware(machine: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(str(machine.get(k)) for k in _HARDWARE_KEYS)


def _warnings(shards: Sequence[Shard]) -> list[str]:
    """Every shard's warnings once; "a budget entry matches no test" only where it
    matched none in any shard."""
    out: list[str] = []
    for s in shards:
        for w in s.run.get("warnings") or []:
            if _NO_MATCH in w:
                if all(w in (o.run.get("warnings") or []) for o in shards) and w not in out:
                    out.append(w)
            elif all(w in (o.run.get("warnings") or []) for o in shards):
                if w not in out:
                    out.append(w)
            else:
                out.append(f"shard {s.label}: {w}")
    if not any(s.declared for s in shards) and len(shards) > 1:
        out.append(
            "the shards declare no group (pytest-split's --splits/--group or --cegi-shard GROUP/SPLITS), so a "
            "missing shard cannot be detected: the merged run holds what was given"
        )
    if _common(shards, "meter") is None:
        out.append("the shards measured with different meters: each record keeps its own (its windows' method)")
    if len({_hardware(dict(s.run.get("machine") or {})) for s in shards}) > 1:
        out.append(
            "the shards ran on different hardware: each record keeps its machine, and measured energy is "
            "compared only with a baseline record from the same hardware (counted cost and modelled figures "
            "compare across hardware)"
        )
    return out


def _summary(s: Shard) -> dict[str, Any]:
    d = s.declared
    out: dict[str, Any] = {
        "file": s.path,
        "label": s.label,
        "records": len(s.run["records"]),
        "created": s.run.get("created"),
        "machine": dict(s.run.get("machine") or {}),
        "meter": s.run.get("meter"),
    }
    if d:
        out.update(group=d["group"], splits=d["splits"])
    if s.run.get("incomplete"):
        out["incomplete"] = s.run["incomplete"]
    return out


__all__ = ["MergeError", "Merged", "Shard", "merge_runs"]
