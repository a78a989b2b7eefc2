"""bitsandbytes' two CPU 4-bit paths: the packed AVX512-BF16 one and the generic one.

Each case runs in a fresh interpreter, because bitsandbytes registers its CPU kernels
once, at import. The generic path is forced with `kernel_path.pin_portable()` on any
CPU; the packed path runs only where the CPU has AVX512-BF16 (it cannot be emulated
on a CPU without the instructions), so on an AVX2-only machine both runs take the
generic path and the packed one stays unverified there.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pytest_cegi.models import kernel_path
from pytest_cegi.models.tiny_models import build_tiny_llava

pytest.importorskip("bitsandbytes")

GENERATE = """
import json, sys
if sys.argv[1] == "portable":
    from pytest_cegi.models import kernel_path
    kernel_path.pin_portable()
from pytest_cegi.models.tiny_models import colour_task
from pytest_cegi.models.variants import Variant, prepare
prepared = prepare(Variant("nf4", sys.argv[2], quantization="nf4"))
task = colour_task(4, seed=2)
out = prepared.generate([r["prompt"] for r in task], images=[r["image"] for r in task], max_new_tokens=3)
print(json.dumps({"meta": prepared.metadata, "out": out}))
"""

NATIVE_PATH = """
import bitsandbytes.functional as F
print("cpu-avx512bf16" if F.has_avx512bf16() else "cpu-generic")
"""


def _python(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def native_path() -> str:
    done = _python(NATIVE_PATH)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def narrow_llava(cache_root) -> str:
    """The issue's case: towers 32 wide, narrower than the 4-bit block of 64."""
    return str(build_tiny_llava(name="llava-narrow", cache_dir=cache_root, hidden=32, vision_ffn=64))


@pytest.mark.parametrize("path", ["native", "portable"])
def test_nf4_on_layers_narrower_than_the_block_runs_on_both_paths(narrow_llava, native_path, path):
    done = _python(GENERATE, path, narrow_llava)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    meta = result["meta"]
    assert meta["kernel_path"] == ("cpu-generic" if path == "portable" else native_path)
    skipped = meta["unquantized_modules"]
    assert any("vision_tower" in name for name in skipped)  # named, as llm_int8_skip_modules would be
    assert len(result["out"]) == 4


def test_the_skipped_layers_are_exactly_those_the_packed_path_rejects(narrow_llava):
    import torch

    from pytest_cegi.models.variants import Variant, prepare, unquantized_modules

    variant = Variant("nf4", narrow_llava, quantization="nf4")
    narrow, defaults = unquantized_modules(variant)
    model = prepare(variant).model
    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear) or any(name.startswith(d) for d in defaults):
            continue
        quantized = "Linear4bit" in type(module).__name__
        assert quantized == (name not in narrow), name
        assert quantized == kernel_path.packable(module.in_features, module.out_features), name


def test_pinning_after_bitsandbytes_was_imported_is_an_error_where_it_would_matter(native_path):
    late = "import bitsandbytes\nfrom pytest_cegi.models import kernel_path\nkernel_path.pin_portable()\nprint('ok')"
    done = _python(late)
    if native_path == "cpu-avx512bf16":
        assert done.returncode != 0 and "imported before pytest-cegi could pin" in done.stderr
    else:  # nothing to pin on a CPU with only the generic path
        assert done.returncode == 0, done.stderr


def test_pinning_first_makes_every_cpu_take_the_generic_path():
    first = (
        "from pytest_cegi.models import kernel_path\nkernel_path.pin_portable()\n"
        "import bitsandbytes.nn as nn\n"
        "print(kernel_path.current('cpu'), nn.Linear4bit(64, 32).support_avx512bf16_for_cpu)"
    )
    done = _python(first)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-2:] == ["cpu-generic", "False"]


@pytest.mark.parametrize(("shape", "ok"), [((64, 32), True), ((128, 64), True), ((32, 64), False), ((64, 16), False)])
def test_packable_shapes(shape, ok):
    assert kernel_path.packable(*shape) is ok


# -- the option, in real pytest sessions ---------------------------------------------


def test_the_portable_option_pins_before_any_test_imports_bitsandbytes(pytester):
    pytester.makepyfile(
        test_k="""
        def test_path():
            from pytest_cegi.models import kernel_path
            assert kernel_path.current("cpu") == "cpu-generic"
        """
    )
    result = pytester.runpytest_subprocess("--cegi-kernel-path=portable", "-p", "no:randomly")
    result.assert_outcomes(passed=1)


def test_a_conftest_that_imports_bitsandbytes_is_pinned_first(pytester):
    # pytest-cegi pins in pytest_load_initial_conftests, before conftest files load
    pytester.makeconftest("import bitsandbytes")
    pytester.makepyfile(
        test_k="from pytest_cegi.models import kernel_path\n\n"
        "def test_path():\n    assert kernel_path.current('cpu') == 'cpu-generic'\n"
    )
    pytester.makepyprojecttoml('[tool.cegi]\nkernel_path = "portable"\n')
    result = pytester.runpytest_subprocess("-p", "no:randomly")
    result.assert_outcomes(passed=1)


def test_a_plugin_that_imported_bitsandbytes_first_cannot_be_pinned_and_says_so(pytester, native_path, monkeypatch):
    if native_path != "cpu-avx512bf16":
        pytest.skip("this CPU has only the generic path: there is nothing to pin, so no error")
    pytester.makepyfile(bnb_plugin="import bitsandbytes\n", test_k="def test_x():\n    pass\n")
    monkeypatch.setenv("PYTHONPATH", str(pytester.path))
    result = pytester.runpytest_subprocess("-p", "bnb_plugin", "--cegi-kernel-path=portable", "-p", "no:randomly")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*imported before pytest-cegi could pin*"])


def test_an_unknown_kernel_path_is_a_usage_error(pytester):
    pytester.makepyfile(test_k="def test_x():\n    pass\n")
    pytester.makepyprojecttoml('[tool.cegi]\nkernel_path = "fast"\n')
    result = pytester.runpytest_subprocess("-p", "no:randomly")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*kernel_path*"])


QLORA = """
import json, sys
if sys.argv[1] == "portable":
    from pytest_cegi.models import kernel_path
    kernel_path.pin_portable()
from pytest_cegi.models.tiny_models import colour_task
from pytest_cegi.models.variants import Variant, prepare
lora = {"r": 8, "lora_alpha": 16, "target_modules": ["q_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]}
variant = Variant("qlora", sys.argv[2], quantization="nf4", lora=lora)
prepared = prepare(variant, train=colour_task(64, seed=1), cache_dir=sys.argv[3], epochs=10, progress=False)
test = colour_task(16, seed=2)
out = prepared.generate([r["prompt"] for r in test], images=[r["image"] for r in test], max_new_tokens=5)
hits = sum(o.strip() == r["completion"] for o, r in zip(out, test))
print(json.dumps({"accuracy": hits / len(test), "kernel_path": prepared.metadata["kernel_path"]}))
"""


@pytest.mark.parametrize("path", ["native", "portable"])
def test_a_qlora_finetune_learns_the_colours_on_both_paths(cache_root, native_path, path, tmp_path):
    """The settings (r 8 on every projection of both towers, 10 epochs of 64 images,
    lr as prepare's default) leave a margin: greedy answers hold on either path."""
    model = str(build_tiny_llava(cache_dir=cache_root))
    done = _python(QLORA, path, model, str(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["kernel_path"] == ("cpu-generic" if path == "portable" else native_path)
    assert result["accuracy"] >= 0.75, result
