"""Example test files shared by the plugin tests."""

# A reference and two candidates of one task, on the deterministic fake meter
# (1e-6 kWh per window at 475 g/kWh, i.e. 4.75e-7 kg per window).
TASK_SUITE = """
import pytest

@pytest.mark.cegi(task="qa", reference=True)
def test_base(cegi):
    with cegi.measure():
        pass
    cegi.record_score(0.50, metric="accuracy")

@pytest.mark.cegi(task="qa", floor=0.40, ceiling=1e-3)
@pytest.mark.parametrize("score", [0.60, 0.30], ids=["good", "bad"])
def test_candidate(cegi, score):
    cegi.trainable_params = 1000
    with cegi.measure():
        pass
    cegi.record_score(score, metric="accuracy")
"""

# The cegi.* JUnit properties of DESIGN.md's contract, on every measured test.
CONTRACT_PROPERTIES = {
    "cegi.task",
    "cegi.variant",
    "cegi.metric",
    "cegi.score",
    "cegi.reference_score",
    "cegi.gain_pct",
    "cegi.trainable_params",
    "cegi.energy_kwh",
    "cegi.emissions_kg",
    "cegi.duration_s",
    "cegi.value",
    "cegi.meter",
    "cegi.verdict",
}
