"""`pytest-cegi pool`: alternated runs of the same tests pooled into one comparison."""

import json

import pytest

from pytest_cegi.cli import main

QUIET = [1.00e-4, 1.05e-4, 0.95e-4, 1.02e-4, 0.98e-4]


def test_pooled_run_holds_every_repeat(make, tmp_path):
    a = make.save(make.run([make.record("lora", samples=QUIET, finetune=5e-4)], repeat=5), "a.json")
    b = make.save(make.run([make.record("lora", samples=[x * 1.1 for x in QUIET], finetune=5e-4)], repeat=5), "b.json")
    out = tmp_path / "pooled.json"
    assert main(["pool", a, b, "-o", str(out)]) == 0
    pooled = json.loads(out.read_text())
    finetune, inference = pooled["records"][0]["windows"]
    assert len(inference["samples"]) == 10
    assert inference["energy_kwh"] == pytest.approx(sum(QUIET) / 5 * 1.05)
    assert finetune["samples"] == [5e-4, 5e-4] and finetune["energy_kwh"] == pytest.approx(5e-4)
    assert pooled["pooled_from"] == [a, b]
    # the pooled file is a valid run: it compares
    assert main(["compare", a, str(out)]) == 0


def test_pooled_alternated_runs_catch_a_regression(make, tmp_path):
    base = [make.save(make.run([make.record("lora", samples=QUIET)], repeat=5), f"b{i}.json") for i in range(2)]
    head = [
        make.save(make.run([make.record("lora", samples=[x * 1.25 for x in QUIET])], repeat=5), f"h{i}.json")
        for i in range(2)
    ]
    assert main(["pool", *base, "-o", str(tmp_path / "base.json")]) == 0
    assert main(["pool", *head, "-o", str(tmp_path / "head.json")]) == 0
    assert main(["compare", str(tmp_path / "base.json"), str(tmp_path / "head.json"), "--fail-on", "energy"]) == 1


def test_pooling_runs_of_different_tests_is_a_usage_error(make, tmp_path, capsys):
    a = make.save(make.run([make.record("lora")]), "a.json")
    b = make.save(make.run([make.record("other")]), "b.json")
    assert main(["pool", a, b, "-o", str(tmp_path / "p.json")]) == 2
    err = capsys.readouterr().err
    assert "b.json" in err and "has no record" in err and "lora" in err
    assert not (tmp_path / "p.json").exists()


def test_pooling_runs_of_different_hardware_is_a_usage_error(make, tmp_path, capsys):
    older = dict(make.MACHINE, cpu_id="AuthenticAMD family 25 model 1 stepping 1; 512 KB cache; avx2")
    a = make.save(make.run([make.record("lora", samples=QUIET)], machine=older, repeat=5), "a.json")
    newer = dict(make.MACHINE, cpu_id="AuthenticAMD family 25 model 17 stepping 1; 1024 KB cache; avx512f")
    b = make.save(make.run([make.record("lora", samples=QUIET)], machine=newer, repeat=5), "b.json")
    assert main(["pool", a, b, "-o", str(tmp_path / "p.json")]) == 2
    err = capsys.readouterr().err
    assert "b.json" in err and "other hardware" in err and "model 17" in err
    assert not (tmp_path / "p.json").exists()
    # as in a comparison, a run file from before CPU identities pools on the model name
    unidentified = make.save(make.run([make.record("lora", samples=QUIET)], repeat=5), "c.json")
    assert main(["pool", a, unidentified, "-o", str(tmp_path / "p.json")]) == 0


def test_a_pooled_partial_run_stays_partial(make, tmp_path, capsys):
    partial = make.run([make.record("lora", samples=QUIET)], repeat=5)
    partial["incomplete"] = "the session stopped early (interrupted): 1 of 2 measured tests ran"
    a = make.save(make.run([make.record("lora", samples=QUIET)], repeat=5), "a.json")
    b = make.save(partial, "b.json")
    out = tmp_path / "p.json"
    assert main(["pool", a, b, "-o", str(out)]) == 0
    assert json.loads(out.read_text())["incomplete"].startswith(f"{b}: the session stopped early")
    assert main(["update", str(out), str(tmp_path / "base.json")]) == 2
    assert "is a partial run" in capsys.readouterr().err


def test_pooling_keeps_the_modelled_figures_and_warns_when_counted_work_differs(make, tmp_path):
    def run(dispatches: int, name: str) -> str:
        rec = make.record("lora", samples=QUIET)
        rec["windows"][0]["work"] = {"flops": {"fp32": 1000}, "bytes": 64, "dispatches": dispatches}
        rec["windows"][0]["modelled_energy_kwh"] = 1e-6 * dispatches
        rec["windows"][0]["modelled_emissions_kg"] = 4e-7 * dispatches
        rec["windows"][0]["modelled_by"] = "modelled from counted work, profile p@1"
        return make.save(make.run([rec], repeat=5), name)

    out = tmp_path / "pooled.json"
    assert main(["pool", run(3, "a.json"), run(3, "b.json"), "-o", str(out)]) == 0
    pooled = json.loads(out.read_text())
    assert pooled["records"][0]["windows"][0]["modelled_energy_kwh"] == pytest.approx(3e-6)
    assert not pooled.get("warnings")
    assert main(["compare", str(out), str(out)]) == 0  # modelled figures survive pooling: nothing "lost"

    assert main(["pool", run(3, "c.json"), run(4, "d.json"), "-o", str(out)]) == 0
    (warning,) = json.loads(out.read_text())["warnings"]
    assert "counted work differs between the pooled runs" in warning and "c.json" in warning
