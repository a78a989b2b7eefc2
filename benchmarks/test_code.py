"""Write a small Python function from its docstring, scored with pass@k in the code
sandbox (the small-vs-large study's programming task, scaled down to one-line bodies).

n = 3 samples per problem, one per docstring phrasing, each decoded greedily: generation
is greedy everywhere in these benchmarks (deterministic scores), so the samples differ
by prompt, not by temperature. pass@1 is the mean share of phrasings whose function
passes the tests; pass@3 counts a problem solved when any phrasing's function does.
See benchmarks/README.md.
"""

import pytest
from cegi_bench import run_programming, variants_for


@pytest.mark.cegi(task="code")
@pytest.mark.parametrize("variant", variants_for("code"))
def test_code(cegi, variant):
    run_programming(cegi, variant, k=[1, 3], timeout_s=5.0, workers=2)
