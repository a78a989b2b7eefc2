"""`pytest-cegi merge` without the plugin: refusals, partial shards, per-record hardware."""

import json

import pytest

from pytest_cegi.cli import OK, USAGE, main
from pytest_cegi.core.record import Record
from pytest_cegi.judge.comparison import compare
from pytest_cegi.judge.merge import MergeError, Shard, merge_runs

OTHER_MACHINE = {"hostname": "gpu-runner", "cpu": "Intel Xeon Platinum 8480+", "cpu_count": 8, "gpus": ["NVIDIA H100"]}


def _shard(make, records, group=None, splits=None, **kw):
    run = make.run(records, **kw)
    if group is not None:
        run["shard"] = {"group": group, "splits": splits, "by": "--cegi-shard"}
    return run


def _tokens(record, n):
    """A record whose counted cost is n tokens (its stored totals recomputed, as a run file's are)."""
    record["windows"][0]["tokens"] = n
    return Record.from_dict(record).to_dict()


def _merge(make, *runs, version=2):
    return merge_runs([Shard(f"shard-{i}.json", r, version) for i, r in enumerate(runs, 1)])


def test_mixed_schema_versions_are_refused(make):
    a, b = _shard(make, [make.record("base", reference=True)]), _shard(make, [make.record("lora")])
    with pytest.raises(MergeError, match=r"shard-2.json: schema_version 1, but shard-1.json: schema_version 2"):
        merge_runs([Shard("shard-1.json", a, 2), Shard("shard-2.json", b, 1)])


def test_shards_under_different_settings_are_refused(make):
    a, b = _shard(make, [make.record("base", reference=True)]), _shard(make, [make.record("lora")])
    b["settings"]["enforce"] = False
    with pytest.raises(MergeError, match=r"shard-2.json: settings.enforce is False, but shard-1.json has True"):
        _merge(make, a, b)


def test_two_references_of_one_task_are_refused(make):
    a = _shard(make, [make.record("base", reference=True)])
    b = _shard(make, [make.record("int8", reference=True)])
    with pytest.raises(MergeError, match=r"is a reference of task 'sql', and so is .*\[base\] in shard-1.json"):
        _merge(make, a, b)


def test_a_merged_run_is_not_merged_again(make):
    merged = _merge(make, _shard(make, [make.record("base", reference=True)])).run
    with pytest.raises(MergeError, match="already a merged run"):
        _merge(make, merged, _shard(make, [make.record("lora")]))


def test_declared_and_undeclared_shards_do_not_mix(make):
    a = _shard(make, [make.record("base", reference=True)], group=1, splits=2)
    b = _shard(make, [make.record("lora")])
    with pytest.raises(MergeError, match="shard-2.json: declares no shard, but shard-1.json is shard 1/2"):
        _merge(make, a, b)
    b["shard"] = {"group": 2, "splits": 3}
    with pytest.raises(MergeError, match="shard-2.json: shard 2/3, but shard-1.json is shard 1/2"):
        _merge(make, a, b)


def test_undeclared_shards_say_a_missing_one_cannot_be_seen(make):
    merged = _merge(make, _shard(make, [make.record("base", reference=True)]), _shard(make, [make.record("lora")]))
    assert "incomplete" not in merged.run
    assert any("a missing shard cannot be detected" in w for w in merged.run["warnings"])
    assert [r["shard"] for r in merged.run["records"]] == ["shard-1.json", "shard-2.json"]


def test_a_budget_entry_unmatched_in_one_shard_only_is_no_warning(make):
    unmatched = "pyproject.toml budget #3 (match = 'x') matches no test in this run: its limits apply to nothing"
    a, b = _shard(make, [make.record("base", reference=True)]), _shard(make, [make.record("lora")])
    a["warnings"], b["warnings"] = [unmatched], []
    assert unmatched not in _merge(make, a, b).run["warnings"]
    b["warnings"] = [unmatched]
    assert _merge(make, a, b).run["warnings"].count(unmatched) == 1


def test_each_record_is_compared_on_its_own_hardware(make):
    """Shard 2 ran on other hardware than the baseline: its measured energy is not
    compared, its counted cost is; shard 1's energy is compared as usual."""
    low, high = (1e-4, 1.01e-4, 1.02e-4, 1e-4, 1.01e-4), (3e-4, 3.01e-4, 3.02e-4, 3e-4, 3.01e-4)
    base = make.run(
        [make.record("base", reference=True, samples=low), _tokens(make.record("lora", energy=1e-4), 100)], repeat=5
    )
    a = _shard(make, [make.record("base", reference=True, samples=high)], group=1, splits=2, repeat=5)
    b = _shard(
        make, [_tokens(make.record("lora", energy=3e-4), 200)], group=2, splits=2, machine=OTHER_MACHINE, repeat=5
    )
    merged = _merge(make, a, b).run
    assert merged["records"][1]["machine"]["cpu"] == OTHER_MACHINE["cpu"]
    assert "2 machines" in merged["machine"]["cpu"]
    result = compare(base, merged)
    by_variant = {r.variant: r for r in result.records}
    assert by_variant["base"].deltas["energy"].status == "regression"  # same hardware: compared
    assert by_variant["lora"].deltas["energy"].status == "not compared"  # other hardware: refused
    assert "hardware differs" in by_variant["lora"].deltas["energy"].reason
    assert by_variant["lora"].deltas["cost"].status == "regression"  # counted: across hardware
    assert [m.kind for m in result.mismatches if m.refuses] == ["hardware"]
    assert "energy" in result.refused


def test_cli_merge_names_the_unreadable_file(make, tmp_path, capsys):
    good = make.save(_shard(make, [make.record("base", reference=True)]), "good.json")
    broken = make.write_text('{"schema": "pytest-cegi/run", "schema_version": 2, "records": [', "broken.json")
    out = tmp_path / "merged.json"
    assert main(["merge", good, broken, "-o", str(out)]) == USAGE
    assert f"{broken}: not valid JSON" in capsys.readouterr().err and not out.exists()
    assert main(["merge", good, str(tmp_path / "missing.json"), "-o", str(out)]) == USAGE
    assert "missing.json: no such file" in capsys.readouterr().err


def test_cli_merge_writes_a_run_every_command_reads(make, tmp_path, capsys):
    a = make.save(_shard(make, [make.record("base", reference=True)], group=1, splits=2), "a.json")
    b = make.save(_shard(make, [make.record("lora", score=0.6)], group=2, splits=2), "b.json")
    out = tmp_path / "merged.json"
    assert main(["merge", a, b, "-o", str(out)]) == OK
    merged = json.loads(out.read_text())
    assert merged["schema_version"] == 2 and [s["label"] for s in merged["shards"]] == ["1/2", "2/2"]
    lora = merged["records"][1]
    assert lora["reference_score"] == 0.5 and lora["gain_pct"] == pytest.approx(20.0)
    assert any("ran in shard 1/2" in n for n in lora["notes"])
    assert main(["update", str(out), str(tmp_path / "baseline.json")]) == OK
    assert main(["compare", str(tmp_path / "baseline.json"), str(out)]) == OK


def test_a_candidate_left_to_the_merge_without_any_reference_fails_its_ceiling(make):
    """A shard defers a candidate's CEGI to the merge; if no shard ran the reference,
    the merge judges it as a session without one would: undefined CEGI under a ceiling."""
    from pytest_cegi.judge.budgets import REFERENCE_ELSEWHERE

    waiting = make.record(
        "lora",
        score=0.6,
        trainable_params=1000,
        notes=[REFERENCE_ELSEWHERE],
        limits={"ceiling": {"value": 1e-3, "source": "marker"}},
        cegi_reason=REFERENCE_ELSEWHERE,
    )
    merged = _merge(make, _shard(make, [waiting], group=1, splits=1))
    (record,) = merged.run["records"]
    assert [(c["limit"], c["status"]) for c in record["checks"]] == [("ceiling", "fail")]
    assert "no reference score for task 'sql'" in record["cegi_reason"]
    assert record["verdict"] == "fail" and REFERENCE_ELSEWHERE not in record["notes"]
    assert merged.failing == [f"{record['nodeid']}: fail"]
