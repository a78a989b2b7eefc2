"""The work counter (pytest_cegi.measure.work): bytes, dispatches, forward passes and the
fingerprint are counted by the documented rules, and counting never changes a result."""

import pytest

torch = pytest.importorskip("torch")

from pytest_cegi.measure.meters.flop_formulas import CLASSES  # noqa: E402
from pytest_cegi.measure.profile import parse_profile  # noqa: E402
from pytest_cegi.measure.work import count_work, counting  # noqa: E402

F32 = 4  # bytes per element


def test_an_elementwise_op_reads_its_operands_and_writes_its_result():
    a, b = torch.ones(100), torch.ones(100)
    _, work = count_work(torch.add, a, b)
    assert work.bytes == 3 * 100 * F32 and work.dispatches == 1
    assert work.flops.total == 0  # elementwise: no FLOP formula, as in torch


def test_views_move_nothing_but_are_dispatched():
    a = torch.ones(10, 10)
    _, work = count_work(lambda: a.view(100)[:50].unsqueeze(0))
    assert work.bytes == 0 and work.dispatches == 3


def test_copy_reads_the_source_and_writes_the_destination():
    dst, src = torch.empty(64), torch.ones(64)
    _, work = count_work(dst.copy_, src)
    assert work.bytes == 2 * 64 * F32


def test_a_gather_reads_the_rows_it_returns_not_the_table():
    table = torch.nn.Embedding(10_000, 16)
    ids = torch.tensor([[1, 2, 3]])
    with torch.no_grad():
        _, work = count_work(table, ids)
    rows = 3 * 16 * F32
    assert work.bytes == 2 * rows + ids.numel() * ids.element_size()


def test_a_scatter_touches_the_values_scattered_not_the_destination():
    dst = torch.zeros(1000, 8)
    index, values = torch.tensor([3, 7]), torch.ones(2, 8)
    _, work = count_work(dst.index_copy_, 0, index, values)
    assert work.bytes == 2 * (index.numel() * index.element_size() + values.numel() * F32)


def test_weights_are_read_again_by_every_call():
    layer = torch.nn.Linear(32, 32)
    x = torch.ones(1, 32)
    with torch.no_grad():
        _, once = count_work(layer, x)
        _, twice = count_work(lambda: (layer(x), layer(x)))
    assert twice.bytes == 2 * once.bytes and once.bytes >= 32 * 32 * F32
    assert once.flops.by_class["fp32"] == 2 * 32 * 32


def test_forward_passes_count_top_level_module_calls_only():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    x = torch.ones(3, 4)
    with torch.no_grad(), counting() as work:
        model(x)
        model(x)
    assert work.forward_passes == 2
    assert work.fingerprint()["input_shapes"] == ["3x4"] and work.fingerprint()["batch_sizes"] == [3]


def test_a_forward_that_raises_leaves_the_depth_balanced():
    class Boom(torch.nn.Module):
        def forward(self, x):
            raise ValueError("boom")

    inner, model = Boom(), torch.nn.Linear(2, 2)
    with counting() as work:
        with pytest.raises(ValueError):
            inner(torch.ones(1, 2))
        with torch.no_grad():
            model(torch.ones(1, 2))
    assert work.forward_passes == 2  # the raising call, then a top-level one, not a nested one


def test_the_fingerprint_names_threads_attention_dtype_and_batch():
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        attn_implementation="eager",
    )
    model = transformers.LlamaForCausalLM(config).eval()
    ids = torch.randint(3, 64, (4, 5))
    with torch.no_grad(), counting() as work:
        model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=3, do_sample=False)
    fp = work.fingerprint()
    assert fp["torch_threads"] == torch.get_num_threads()
    assert fp["attn_implementation"] == ["eager"] and fp["model_dtype"] == ["float32"]
    assert fp["batch_sizes"] == [4] and fp["input_shapes"][0] == "4x5"
    assert work.forward_passes == 3  # one per new token


def test_counting_changes_no_result_of_a_training_step():
    """A with-block (a fine-tune) is counted while it runs: its weights must be exactly
    those of an uncounted run (decomposing silu_backward, as FlopCounterMode would,
    rounds differently and changed the benchmarks' fine-tuned scores)."""
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2
    )
    model = transformers.LlamaForCausalLM(config)
    ids = torch.randint(3, 64, (2, 8))

    def step():
        model.zero_grad()
        model(input_ids=ids, labels=ids).loss.backward()
        return [p.grad.clone() for p in model.parameters()]

    plain = step()
    with counting():
        counted = step()
    assert all(torch.equal(a, b) for a, b in zip(plain, counted, strict=True))


def test_the_profile_prices_every_unit_deterministically():
    classes = {c: {"joules_per_flop": 1.0, "flops_per_second": 10.0} for c in CLASSES}
    profile = parse_profile(
        {
            "schema": "pytest-cegi/flops-profile",
            "schema_version": 2,
            "name": "p",
            "version": "1",
            "source": "test",
            "static_watts": 2.0,
            "classes": classes,
            "bytes": {"joules_per_byte": 0.5, "bytes_per_second": 100.0},
            "dispatch": {"joules_per_dispatch": 3.0, "dispatches_per_second": 1.0},
        },
        "p.json",
    )
    priced = profile.price({"flops": {"fp32": 10}, "bytes": 100, "dispatches": 2})
    seconds = 10 / 10 + 100 / 100 + 2 / 1
    assert priced.seconds == seconds
    assert priced.joules == 10 * 1.0 + 100 * 0.5 + 2 * 3.0 + 2.0 * seconds
    assert priced.parts_j == {"fp32": 12.0, "bytes": 52.0, "dispatch": 10.0}
