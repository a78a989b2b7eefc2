"""Text-to-SQL on a shipped SQLite database, scored with execution accuracy
(the CEGI paper's text-to-SQL task, scaled down)."""

import pytest
from cegi_bench import DATA, run_variant, variants_for


@pytest.mark.cegi(task="sql")
@pytest.mark.parametrize("variant", variants_for("sql"))
def test_sql(cegi, variant):
    run_variant(cegi, "sql", variant, "execution_accuracy", db=str(DATA / "sql" / "shop.sqlite"))
