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
