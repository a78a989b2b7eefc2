import subprocess
import sys

import pytest

from pytest_cegi import metrics
from pytest_cegi.metrics import EvaluateMetric, Metric, MetricError, MetricResult

BUILTINS = {"accuracy", "bleu", "chrf", "cider", "exact_match", "execution_accuracy", "rouge", "vqa_accuracy"}


def test_available_lists_builtins_sorted():
    names = metrics.available()
    assert set(names) >= BUILTINS
    assert names == sorted(names)


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_registry_entries_describe_themselves(name):
    entry = metrics.get(name)
    assert entry.name == name
    assert entry.higher_is_better is True
    low, high = entry.range
    assert low == 0.0 and high >= 1.0
    assert entry.primary_key


def test_unknown_name_lists_available_and_suggests():
    with pytest.raises(MetricError) as info:
        metrics.compute("rogue", ["a"], ["a"])
    message = str(info.value)
    assert "unknown metric 'rogue'" in message
    assert "Did you mean 'rouge'" in message
    for name in BUILTINS:
        assert name in message


@pytest.mark.parametrize("name", ["spice", "meteor"])
def test_metrics_that_need_java_or_downloads_say_so(name):
    with pytest.raises(MetricError, match="cannot run here") as info:
        metrics.compute(name, ["a dog"], ["a dog"])
    assert "download" in str(info.value)
    assert name not in metrics.available()


def test_count_mismatch_is_reported_with_both_counts():
    with pytest.raises(MetricError, match="3 predictions but 2 references"):
        metrics.compute("exact_match", ["a", "b", "c"], ["a", "b"])


def test_empty_inputs_are_an_error():
    with pytest.raises(MetricError, match="no examples"):
        metrics.compute("bleu", [], [])


def test_a_bare_string_is_not_a_list_of_predictions():
    with pytest.raises(MetricError, match="predictions must be a list"):
        metrics.compute("exact_match", "abc", ["a", "b", "c"])


def test_name_colon_key_selects_the_recorded_score():
    result = metrics.compute("rouge:rouge1", ["the cat sat"], ["the cat ran"])
    assert result.key == "rouge1"
    assert result.value == result.scores["rouge1"]
    assert result.value != result.scores["rouge2"]


def test_unknown_key_lists_the_scores_produced():
    with pytest.raises(MetricError, match="no score named 'rouge9x'.*rougeLsum"):
        metrics.compute("rouge:rouge9x", ["a"], ["a"])


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_unexpected_option_is_rejected(name):
    # bleu and chrf pass options on to sacrebleu, which rejects the unknown one.
    with pytest.raises(MetricError, match=f"^{name}: (unexpected options|bad option).*ignore_cas"):
        metrics.compute(name, ["a"], ["a"], ignore_cas=True)


class FakeEvaluateModule:
    """Shaped like an `evaluate` module: keyword-only compute returning a dict."""

    name = "overlap"

    def __init__(self):
        self.calls = []

    def compute(self, *, predictions, references, bonus=0.0):
        self.calls.append((predictions, references))
        hits = sum(p == r for p, r in zip(predictions, references, strict=True))
        return {"overlap": hits / len(predictions) + bonus, "count": len(predictions), "per": [1, 2]}


def test_evaluate_style_objects_are_accepted():
    module = FakeEvaluateModule()
    result = metrics.compute(module, ["a", "b"], ["a", "c"], bonus=0.25)
    assert isinstance(result, MetricResult)
    assert (result.name, result.key, result.value) == ("overlap", "overlap", 0.75)
    assert result.scores == {"overlap": 0.75, "count": 2.0}
    assert result.details["extras"] == {"per": [1, 2]}
    assert module.calls == [(["a", "b"], ["a", "c"])]


def test_evaluate_wrapper_chooses_key_and_direction():
    result = metrics.compute(EvaluateMetric(FakeEvaluateModule(), key="count", higher_is_better=False), ["a"], ["a"])
    assert (result.key, result.value, result.higher_is_better) == ("count", 1.0, False)


def test_evaluate_wrapper_key_must_be_produced():
    with pytest.raises(MetricError, match="overlap: no score named 'f1'; it produced \\['count', 'overlap'\\]"):
        metrics.compute(EvaluateMetric(FakeEvaluateModule(), key="f1"), ["a"], ["a"])


def test_object_without_compute_is_rejected():
    with pytest.raises(MetricError, match="no compute"):
        metrics.compute(object(), ["a"], ["a"])


@pytest.fixture
def scratch_registry(monkeypatch):
    from pytest_cegi.metrics import registry

    metrics.available()  # load built-ins before copying
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))


def test_register_wants_an_instance(scratch_registry):
    class Named(Metric):
        name = "named"
        primary_key = "x"

    with pytest.raises(MetricError, match="instance"):
        metrics.register(Named)


def test_register_instance_and_use_by_name(scratch_registry):
    class LengthRatio(Metric):
        name = "length_ratio"
        primary_key = "ratio"
        higher_is_better = False

        def compute(self, predictions, references, **kw):
            return {"ratio": sum(map(len, predictions)) / sum(map(len, references))}

    instance = LengthRatio()
    assert metrics.register(instance) is instance
    assert "length_ratio" in metrics.available()
    result = metrics.compute("length_ratio", ["ab"], ["abcd"])
    assert (result.value, result.higher_is_better) == (0.5, False)


def test_register_rejects_nameless_metrics(scratch_registry):
    class Nameless(Metric):
        def compute(self, predictions, references, **kw):
            return {"x": 1.0}

    with pytest.raises(MetricError, match="non-empty `name`"):
        metrics.register(Nameless())


def test_import_is_cheap():
    code = (
        "import sys, pytest_cegi.metrics as m; m.available(); "
        "print(sorted({k.split('.')[0] for k in sys.modules} & "
        "{'rouge_score', 'sacrebleu', 'datasets', 'nltk', 'numpy', 'torch', 'evaluate'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
