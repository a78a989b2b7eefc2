"""One suite run sharded (3 CI-matrix-like shards) and unsharded, the shards merged:
the merged run judges every test as the unsharded session did (issue 25)."""

import json

import pytest

from pytest_cegi.cli import OK, REGRESSED, USAGE, main

# Two tasks; most candidates land in a shard without their task's reference. The fake
# meter charges 1e-6 kWh per window at 475 g/kWh; tokens give every test a counted cost.
QA = """
import pytest

@pytest.mark.cegi(task="qa", reference=True)
def test_qa_base(cegi):
    with cegi.measure():
        cegi.count_tokens(100)
    cegi.record_score(0.50, metric="accuracy")

# good: +20 %, CEGI 2.4e-05; bad: below the floor and no gain; pricey: +2 %, CEGI 2.4e-04
@pytest.mark.cegi(task="qa", floor=0.40, ceiling=1e-4)
@pytest.mark.parametrize("score", [0.60, 0.30, 0.51], ids=["good", "bad", "pricey"])
def test_qa_tuned(cegi, score):
    cegi.trainable_params = 1000
    with cegi.measure():
        cegi.count_tokens(120)
    cegi.record_score(score, metric="accuracy")
"""
MT = """
import pytest

@pytest.mark.cegi(task="mt", reference=True)
def test_mt_base(cegi):
    with cegi.measure():
        cegi.count_tokens(50)
    cegi.record_score(0.20, metric="bleu")

@pytest.mark.cegi(task="mt", ceiling=1e-3, gain="points")
def test_mt_tuned(cegi):
    cegi.trainable_params = 4000
    for _ in range(2):
        with cegi.measure():
            cegi.count_tokens(70)
    cegi.record_score(0.35, metric="bleu")

@pytest.mark.cegi(task="mt")
def test_mt_int8(cegi):
    cegi.trainable_params = 0
    with cegi.measure():
        cegi.count_tokens(50)
    cegi.record_score(0.19, metric="bleu")
"""
SHARDS = [
    ["test_qa.py::test_qa_base", "test_mt.py::test_mt_tuned"],
    ["test_qa.py::test_qa_tuned[good]", "test_qa.py::test_qa_tuned[bad]", "test_mt.py::test_mt_int8"],
    ["test_qa.py::test_qa_tuned[pricey]", "test_mt.py::test_mt_base"],
]
COMPARED = ("verdict", "score", "reference_score", "gain_pct", "cegi", "cegi_reason", "carbon_per_gain", "cost")


@pytest.fixture
def suite(pytester):
    pytester.makepyfile(test_qa=QA, test_mt=MT)
    return pytester


def _records(path) -> dict:
    return {r["nodeid"]: r for r in json.loads(path.read_text())["records"]}


def _checks(record) -> list:
    return sorted((c["limit"], c["status"]) for c in record["checks"])


def _shards(suite, run, *extra):
    paths = []
    for i, ids in enumerate(SHARDS, 1):
        path = suite.path / f"shard-{i}.json"
        run("--cegi-budget", f"--cegi-shard={i}/{len(SHARDS)}", f"--cegi-save={path}", *extra, *ids)
        paths.append(path)
    return paths


def test_sharded_and_merged_equals_unsharded(suite, run, capsys):
    whole = run("--cegi-budget", f"--cegi-save={suite.path / 'whole.json'}")
    whole.assert_outcomes(passed=5, failed=2)  # bad (floor) and pricey (ceiling)
    shards = _shards(suite, run)
    # A shard judges what it can; a candidate whose reference is elsewhere waits for the merge.
    first = _records(shards[0])["test_mt.py::test_mt_tuned"]
    assert first["cegi"] is None and "another shard" in first["cegi_reason"]
    assert first["verdict"] == "pass" and "ceiling" not in {c["limit"] for c in first["checks"]}

    merged = suite.path / "merged.json"
    # exit 1: under --cegi-budget two merged tests fail their budgets (as in the whole run)
    assert main(["merge", *map(str, shards), "-o", str(merged)]) == REGRESSED
    err = capsys.readouterr().err
    assert "merged 3 shard(s) (7 tests)" in err and "judged against a reference from another shard" in err
    assert "test_qa.py::test_qa_tuned[pricey]: fail" in err and "test_qa.py::test_qa_tuned[bad]: fail" in err

    expected, got = _records(suite.path / "whole.json"), _records(merged)
    assert got.keys() == expected.keys()
    for nodeid, want in expected.items():
        have = got[nodeid]
        for key in COMPARED:
            assert have[key] == pytest.approx(want[key]) if isinstance(want[key], float) else have[key] == want[key], (
                nodeid,
                key,
            )
        assert _checks(have) == _checks(want), nodeid
        assert have["shard"] == next(f"{i}/3" for i, ids in enumerate(SHARDS, 1) if nodeid in ids)
        assert have["machine"]["cpu"]
    assert got["test_qa.py::test_qa_tuned[pricey]"]["cegi"] == pytest.approx(2.375e-4)
    assert got["test_mt.py::test_mt_tuned"]["cegi"] == pytest.approx(9.5e-7 / (15 * 4000 / 1e6))
    assert [s["label"] for s in json.loads(merged.read_text())["shards"]] == ["1/3", "2/3", "3/3"]
    assert "incomplete" not in json.loads(merged.read_text())

    # compare takes the merged run: against the unsharded one, nothing changed
    assert main(["compare", str(suite.path / "whole.json"), str(merged)]) == OK
    out = capsys.readouterr().out
    assert "0 regression(s)" in out and "0 added, 0 removed" in out
    # and the report is the merged run's: every test, the failing CEGI among them
    report = suite.path / "report.md"
    assert main(["report", str(merged), "-o", str(report)]) == OK
    text = report.read_text()
    assert "Merged from 3 shards (1/3 (" in text
    pytest.importorskip("matplotlib")
    assert (suite.path / "report-pareto.png").stat().st_size > 0  # the plot takes it too
    assert "pricey" in text and "test_mt_tuned" in text
    assert "CEGI 2.37e-04 > ceiling 1.00e-04" in text


def test_merge_refuses_overlapping_shards(suite, run, capsys):
    a, b = suite.path / "a.json", suite.path / "b.json"
    run("--cegi-shard=1/2", f"--cegi-save={a}", "test_qa.py")
    run("--cegi-shard=2/2", f"--cegi-save={b}", "test_qa.py::test_qa_tuned[good]", "test_mt.py")
    out = suite.path / "merged.json"
    assert main(["merge", str(a), str(b), "-o", str(out)]) == USAGE
    err = capsys.readouterr().err
    assert f"{b}: record #1 (test_qa.py::test_qa_tuned[good]) is also in {a}: overlapping shards" in err
    assert "Traceback" not in err and not out.exists()
    # the same group twice is an overlap too
    assert main(["merge", str(a), str(a), "-o", str(out)]) == USAGE
    assert "are both shard 1/2: overlapping shards" in capsys.readouterr().err


def test_merge_marks_a_missing_shard_partial_and_update_refuses_it(suite, run, capsys):
    paths = _shards(suite, run)
    merged = suite.path / "merged.json"
    main(["merge", str(paths[0]), str(paths[2]), "-o", str(merged)])
    assert "the merged run is partial: shard(s) 2/3 missing" in capsys.readouterr().err
    data = json.loads(merged.read_text())
    assert data["incomplete"].startswith("shard(s) 2/3 missing: 2 of 3 shards were merged")
    assert main(["update", str(merged), str(suite.path / "baseline.json")]) == USAGE
    assert "is a partial run" in capsys.readouterr().err
    # compare says so too, and the tests it lacks read as removed: a failing change
    assert main(["compare", str(suite.path / "shard-1.json"), str(merged)]) in (OK, REGRESSED)
    assert "partial run" in capsys.readouterr().err


def test_merge_marks_a_shard_that_stopped_early(suite, run, capsys):
    suite.makepyfile(
        test_stop="""
import pytest

@pytest.mark.cegi(task="stop")
def test_a(cegi):
    with cegi.measure():
        pass
    cegi.record_score(1.0)
    assert False, "stops the session under -x"

@pytest.mark.cegi(task="stop")
def test_b(cegi):
    with cegi.measure():
        pass
"""
    )
    a, b = suite.path / "a.json", suite.path / "b.json"
    run("--cegi-shard=1/2", f"--cegi-save={a}", "-x", "test_stop.py")
    run("--cegi-shard=2/2", f"--cegi-save={b}", "test_qa.py")
    assert json.loads(a.read_text())["incomplete"]
    merged = suite.path / "merged.json"
    main(["merge", str(a), str(b), "-o", str(merged)])
    assert "partial" in capsys.readouterr().err
    assert json.loads(merged.read_text())["incomplete"].startswith(f"shard 1/2 ({a}): the session stopped early")


def test_pytest_split_groups_declare_the_shard(suite, run, capsys):
    pytest.importorskip("pytest_split")
    paths = []
    for group in (1, 2):
        path = suite.path / f"split-{group}.json"
        run("--cegi-budget", "--splits=2", f"--group={group}", f"--cegi-save={path}")
        assert json.loads(path.read_text())["shard"] == {"group": group, "splits": 2, "by": "pytest-split"}
        paths.append(path)
    whole = suite.path / "whole.json"
    run("--cegi-budget", f"--cegi-save={whole}")
    merged = suite.path / "merged.json"
    assert main(["merge", *map(str, paths), "-o", str(merged)]) == REGRESSED
    expected, got = _records(whole), _records(merged)
    assert {k: (v["verdict"], v["cegi"]) for k, v in got.items()} == {
        k: (v["verdict"], v["cegi"]) for k, v in expected.items()
    }
    # a shard that disagrees with pytest-split's group is a usage error
    result = run("--splits=2", "--group=1", "--cegi-shard=2/2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "disagrees with pytest-split" in "".join(result.errlines + result.outlines)


def test_bad_shard_option_is_a_usage_error(suite, run):
    result = run("--cegi-shard=3/2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "group must be between 1 and 2" in "".join(result.errlines)
