"""The adapter cache's own record (issue 12), without a model: an entry whose record
was edited, or whose fields have the wrong type, NaN, a negative figure or a file
name outside its folder, is rebuilt with a warning, never replayed."""

from __future__ import annotations

import hashlib
import json

import pytest

from pytest_cegi.core.window import Method, Window
from pytest_cegi.models import adapter_cache
from pytest_cegi.models.adapter_cache import ENTRY_FILE, FORMAT, AdapterCache, _record_digest

KEY = "k" * 32
WINDOW = Window(
    "finetune", 1.6e-06, 7.6e-07, 3.0, Method("fake", "fake", "none", 475.0, "test", True), cpu_energy_kwh=1.6e-06
)


def _entry(tmp_path, mutate=None, *, redigest: bool = True):
    folder = tmp_path / "adapters" / KEY
    folder.mkdir(parents=True)
    weights = b"weights"
    (folder / "adapter_model.safetensors").write_bytes(weights)
    meta = {
        "format": FORMAT,
        "key": KEY,
        "files": {"adapter_model.safetensors": hashlib.sha256(weights).hexdigest()},
        "info": {"losses": [1.0, 0.5]},
        "windows": {"fake": WINDOW.to_dict()},
    }
    meta["record_sha256"] = _record_digest(meta)
    text = json.dumps(meta)
    if mutate is not None:
        out = mutate(meta)
        if redigest and out is None:  # an attacker who also recomputes the record digest
            meta["record_sha256"] = _record_digest(meta)
        text = out if isinstance(out, str) else json.dumps(meta)
    (folder / ENTRY_FILE).write_text(text)
    return folder


def test_an_untouched_entry_is_replayed(tmp_path):
    _entry(tmp_path)
    entry = AdapterCache(tmp_path).lookup(KEY)
    assert entry is not None and entry.window_for("fake").energy_kwh == 1.6e-06


def _set_window(field, value):
    def mutate(meta):
        meta["windows"]["fake"][field] = value

    return mutate


TAMPERS = {
    "energy edited by one byte": (lambda meta: json.dumps(meta).replace("1.6e-06", "1.6e-16", 1), "edited"),
    "quoted energy": (_set_window("energy_kwh", "1.6e-06"), "energy_kwh"),
    "boolean energy": (_set_window("energy_kwh", True), "energy_kwh"),
    "negative emissions": (_set_window("emissions_kg", -1e-6), "emissions_kg"),
    "string requests": (_set_window("requests", "3"), "requests"),
    "unknown window key": (_set_window("colour", "red"), "colour"),
    "bad method": (_set_window("method", {"meter": 1}), "method"),
    "files outside the folder": (lambda meta: meta["files"].update({"../../etc/passwd": "0" * 64}), "plain file name"),
    "digest not a string": (lambda meta: meta["files"].update({"adapter_model.safetensors": 5}), "files"),
    "info not a table": (lambda meta: meta.update(info=[1]), "info"),
}


@pytest.mark.parametrize("name", TAMPERS)
def test_a_tampered_or_malformed_entry_is_rebuilt(tmp_path, name):
    mutate, why = TAMPERS[name]
    folder = _entry(tmp_path, mutate)
    with pytest.warns(UserWarning, match="corrupt") as caught:
        assert AdapterCache(tmp_path).lookup(KEY) is None
    assert why in str(caught[0].message)
    assert not folder.exists()


@pytest.mark.parametrize("token", ["NaN", "Infinity", "1" * 5000])
def test_non_finite_or_huge_numbers_in_the_record_are_rebuilt(tmp_path, token):
    folder = _entry(tmp_path, lambda meta: json.dumps(meta).replace("1.6e-06", token, 1))
    with pytest.warns(UserWarning, match="corrupt"):
        assert AdapterCache(tmp_path).lookup(KEY) is None
    assert not folder.exists()


def test_an_oversized_record_is_not_read(tmp_path, monkeypatch):
    from pytest_cegi.core import run_schema

    monkeypatch.setattr(run_schema, "MAX_RUN_BYTES", 100)
    _entry(tmp_path)
    with pytest.warns(UserWarning, match="larger than"):
        assert adapter_cache.AdapterCache(tmp_path).lookup(KEY) is None
