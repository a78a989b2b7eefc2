"""The offline tiny-model builder: deterministic, cached, usable from the command line."""

import subprocess
import sys

from pytest_cegi.models.tiny_models import DONE_FILE, build_causal_lm, demo_texts

TEXTS = demo_texts(80)


def _state(path):
    from safetensors.torch import load_file

    return load_file(f"{path}/model.safetensors")


def test_build_is_deterministic_and_cached(tmp_path):
    a = build_causal_lm(TEXTS, cache_dir=tmp_path / "a", steps=5)
    b = build_causal_lm(TEXTS, cache_dir=tmp_path / "b", steps=5)
    assert a.name == b.name and (a / DONE_FILE).is_file()
    sa, sb = _state(a), _state(b)
    assert sa.keys() == sb.keys() and all((sa[k] == sb[k]).all() for k in sa)
    mtime = (a / DONE_FILE).stat().st_mtime_ns
    assert build_causal_lm(TEXTS, cache_dir=tmp_path / "a", steps=5) == a
    assert (a / DONE_FILE).stat().st_mtime_ns == mtime  # not rebuilt
    assert build_causal_lm(TEXTS, cache_dir=tmp_path / "a", steps=6) != a


def test_half_built_directory_is_replaced(tmp_path):
    a = build_causal_lm(TEXTS, cache_dir=tmp_path, steps=2)
    (a / DONE_FILE).unlink()
    assert build_causal_lm(TEXTS, cache_dir=tmp_path, steps=2) == a and (a / DONE_FILE).is_file()


def test_tokenizer_round_trips_any_text(tmp_path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(build_causal_lm(TEXTS, cache_dir=tmp_path, steps=1))
    text = "SELECT name FROM users WHERE id = 3; -- Größe ✓"
    assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text


def test_cli(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(TEXTS))
    out = (
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest_cegi.models.tiny_models",
                "causal",
                "--texts",
                str(corpus),
                "--steps",
                "2",
                "--name",
                "cli",
                "--cache-dir",
                str(tmp_path / "c"),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    assert "tiny-models/cli-tiny-" in out and (tmp_path / "c").exists()
