"""Device profiles: the shipped ones validate; bad ones fail with the file and key named."""

import json

import pytest

from pytest_cegi.core.settings import Settings
from pytest_cegi.measure.meters.flop_formulas import CLASSES
from pytest_cegi.measure.meters.flops import FlopsMeter
from pytest_cegi.measure.profile import ProfileError, builtin_profiles, load_profile


def _valid():
    return json.loads(
        json.dumps(
            {
                "schema": "pytest-cegi/flops-profile",
                "schema_version": 1,
                "name": "t",
                "version": "3",
                "device": "cpu",
                "source": "test",
                "static_watts": 1.0,
                "classes": {c: {"joules_per_flop": 1e-10, "flops_per_second": 1e10} for c in CLASSES},
            }
        )
    )


def _write(tmp_path, data, name="p.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


@pytest.mark.parametrize("name", builtin_profiles())
def test_builtin_profiles_validate_and_say_where_their_numbers_come_from(name):
    profile = load_profile(name)
    assert profile.name == name and profile.version
    assert len(profile.source) > 80


def test_default_is_generic_cpu():
    profile = load_profile()
    assert profile.label == "generic-cpu@3" and profile.schema_version == 2 and not profile.flops_only


def test_a_profile_by_path(tmp_path, monkeypatch):
    path = _write(tmp_path, _valid())
    assert load_profile(str(path)).label == "t@3"
    monkeypatch.setenv("CEGI_FLOPS_PROFILE", str(path))
    assert FlopsMeter(Settings().carbon).method().cpu == "modelled (flops, profile t@3)"


def test_gpu_profile_charges_the_gpu_column(tmp_path):
    torch = pytest.importorskip("torch")
    data = _valid()
    data["device"] = "gpu"
    meter = FlopsMeter(Settings().carbon, profile=str(_write(tmp_path, data)))
    with meter.window("inference") as h:
        torch.ones(2, 2) @ torch.ones(2, 2)
    assert h.result.gpu_energy_kwh == h.result.energy_kwh > 0 and h.result.cpu_energy_kwh == 0
    assert h.result.method.cpu == "none" and h.result.method.gpu.startswith("modelled (flops")


def test_unknown_name_lists_the_builtins():
    with pytest.raises(ProfileError, match=r"no built-in profile named 'nope'.*generic-cpu"):
        load_profile("nope")


def test_missing_file(tmp_path):
    with pytest.raises(ProfileError, match="not found"):
        load_profile(str(tmp_path / "absent.json"))


def test_bad_json_names_the_file(tmp_path):
    path = _write(tmp_path, "{not json")
    with pytest.raises(ProfileError, match=r"p\.json: not valid JSON"):
        load_profile(str(path))


def _broken(mutate):
    data = _valid()
    mutate(data)
    return data


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.update(schema="other"), "key 'schema' must be 'pytest-cegi/flops-profile'"),
        (lambda d: d.update(schema_version=3), "unsupported schema_version 3"),
        (lambda d: d.update(schema_version=2), "key 'bytes' must be an object with joules_per_byte"),
        (lambda d: d.pop("version"), "key 'version' must be a non-empty string"),
        (lambda d: d.update(device="tpu"), "key 'device' must be one of cpu, gpu"),
        (lambda d: d.update(static_watts=-1), "key 'static_watts' must be a number >= 0"),
        (lambda d: d["classes"].pop("int4"), "'classes' lacks int4"),
        (lambda d: d["classes"].update(fp8={}), "unknown class 'fp8'"),
        (lambda d: d["classes"]["int8"].update(joules_per_flop=-1), r"classes\.int8\.joules_per_flop.*>= 0"),
        (lambda d: d["classes"]["int8"].update(flops_per_second=0), r"classes\.int8\.flops_per_second.*positive"),
        (lambda d: d["classes"]["fp32"].update(flops_per_second="fast"), r"classes\.fp32\.flops_per_second.*number"),
        (lambda d: d.update(classes=[]), "key 'classes' must be an object"),
    ],
)
def test_invalid_profiles_name_the_file_and_key(tmp_path, mutate, message):
    path = _write(tmp_path, _broken(mutate))
    with pytest.raises(ProfileError, match=message) as info:
        load_profile(str(path))
    assert str(path) in str(info.value)


def test_meter_construction_raises_the_profile_error(tmp_path, monkeypatch):
    monkeypatch.setenv("CEGI_FLOPS_PROFILE", "missing-profile")
    with pytest.raises(ProfileError, match="missing-profile"):
        FlopsMeter(Settings().carbon)


@pytest.mark.parametrize(
    "old, new, message",
    [
        ('"static_watts": 1.0', '"static_watts": NaN', "static_watts"),
        ('"static_watts": 1.0', '"static_watts": ' + "9" * 5000, "static_watts"),
        ('"static_watts": 1.0', '"static_watts": ' + "[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ],
)
def test_hostile_profile_json_is_a_profile_error(tmp_path, old, new, message):
    """Issue 12: read as strictly as a run file (no NaN, no huge int, no deep nesting)."""
    text = json.dumps(_valid())
    assert old in text
    path = _write(tmp_path, text.replace(old, new))
    with pytest.raises(ProfileError, match=message) as info:
        load_profile(str(path))
    assert str(path) in str(info.value)
