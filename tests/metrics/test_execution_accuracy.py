import sqlite3

import pytest

from pytest_cegi import metrics
from pytest_cegi.metrics import execution
from pytest_cegi.metrics.execution import GoldQueryError, results_match
from pytest_cegi.metrics.sqltext import has_top_level_order_by, leading_keyword


def ex(preds, golds, db, **kw):
    return metrics.compute("execution_accuracy", preds, golds, db=db, **kw)


def test_hand_worked_mix(singer_db):
    golds = [
        "SELECT name FROM singer WHERE country = 'France'",
        "SELECT name FROM singer ORDER BY age, name",
        "SELECT count(*) FROM singer",
        "SELECT country FROM singer",
    ]
    preds = [
        "SELECT name FROM singer WHERE country = 'France' ORDER BY name DESC",  # order free: correct
        "SELECT name FROM singer ORDER BY name",  # wrong order: wrong
        "SELECT count(*) FROM singr",  # error: 0
        "SELECT DISTINCT country FROM singer",  # multiset differs
    ]
    result = ex(preds, golds, singer_db)
    assert result.value == pytest.approx(1 / 4)
    assert result.details["per_example"] == ["correct", "wrong", "error", "wrong"]
    assert "no such table" in result.details["errors"][2]
    assert result.details["counts"] == {"correct": 1, "wrong": 2, "error": 1}


def test_set_semantics_ignores_duplicates_and_order(singer_db):
    golds = ["SELECT country FROM singer", "SELECT name FROM singer ORDER BY age, name"]
    preds = ["SELECT DISTINCT country FROM singer", "SELECT name FROM singer ORDER BY name"]
    assert ex(preds, golds, singer_db, set_semantics=True).value == 1.0


def test_order_by_inside_subquery_does_not_make_comparison_ordered(singer_db):
    gold = "SELECT name FROM (SELECT name, age FROM singer ORDER BY age DESC LIMIT 2)"
    pred = "SELECT name FROM singer WHERE age > 33 ORDER BY name"
    assert ex([pred], [gold], singer_db).value == 1.0


def test_integer_and_real_values_compare_equal(singer_db):
    assert ex(["SELECT 25.0"], ["SELECT min(age) FROM singer"], singer_db).value == 1.0


def test_gold_error_is_a_data_error(singer_db):
    with pytest.raises(GoldQueryError, match="gold query 1 failed.*data error"):
        ex(["SELECT 1", "SELECT 1"], ["SELECT 1", "SELECT nope FROM singer"], singer_db)


def test_gold_over_row_cap_suggests_raising_it(singer_db):
    with pytest.raises(GoldQueryError, match="raise max_rows"):
        ex(["SELECT 1"], ["SELECT * FROM n"], singer_db, max_rows=10)


def test_db_argument_checks(singer_db, tmp_path):
    with pytest.raises(metrics.MetricError, match="needs db="):
        metrics.compute("execution_accuracy", ["SELECT 1"], ["SELECT 1"])
    with pytest.raises(metrics.MetricError, match="not found"):
        ex(["SELECT 1"], ["SELECT 1"], tmp_path / "missing.sqlite")
    with pytest.raises(metrics.MetricError, match="2 db paths for 1 examples"):
        ex(["SELECT 1"], ["SELECT 1"], [singer_db, singer_db])


def test_one_database_per_example(singer_db, tmp_path):
    other = tmp_path / "pets.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE pet (name TEXT)")
    conn.executemany("INSERT INTO pet VALUES (?)", [("Rex",), ("Tom",)])
    conn.commit()
    conn.close()
    result = ex(
        ["SELECT count(*) FROM singer", "SELECT count(*) FROM pet"], ["SELECT 5", "SELECT 2"], [singer_db, other]
    )
    assert result.value == 1.0


def test_many_databases_interleaved(tmp_path):
    # More databases than sandboxes kept open, revisited out of order.
    paths = []
    for n in range(6):
        path = tmp_path / f"db{n}.sqlite"
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE t (x)")
        conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(n)])
        conn.commit()
        conn.close()
        paths.append(path)
    order = [0, 1, 2, 3, 4, 5, 0, 5, 1, 1, 2]
    preds = ["SELECT count(*) FROM t"] * len(order)
    golds = [f"SELECT {n}" for n in order]
    golds[-1] = "SELECT 99"  # one wrong, to see the results stay with their examples
    result = ex(preds, golds, [paths[n] for n in order])
    assert result.details["per_example"] == ["correct"] * 10 + ["wrong"]


def test_gold_over_memory_limit_suggests_raising_it(singer_db):
    big = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c LIMIT 20) "
        "SELECT printf('%.*c', 1000000, 'x') FROM c"
    )
    with pytest.raises(GoldQueryError, match="raise memory_mib"):
        ex(["SELECT 1"], [big], singer_db, memory_mib=64)
    assert ex([big], [big], singer_db, memory_mib=256).details["memory_mib"] == 256


def test_ves_is_off_by_default_and_follows_bird(singer_db, monkeypatch):
    golds = ["SELECT count(*) FROM singer", "SELECT count(*) FROM singer", "SELECT 1"]
    preds = ["SELECT count(name) FROM singer", "SELECT count(id) FROM singer", "SELECT 2"]
    assert "ves" not in ex(preds, golds, singer_db).scores
    # Replace the stopwatch: gold takes 4 units, the first prediction 1, the second 16.
    fake = {golds[0]: 4.0, preds[0]: 1.0, preds[1]: 16.0}
    monkeypatch.setattr(execution, "_timed", lambda box, sql, repeats: fake[sql])
    result = ex(preds, golds, singer_db, with_ves=True)
    # sqrt(4/1) = 2, sqrt(4/16) = 0.5, wrong answer 0
    assert result.scores["ves"] == pytest.approx((2 + 0.5 + 0) / 3)
    assert result.key == "execution_accuracy"


def test_ves_needs_at_least_one_timing(singer_db):
    with pytest.raises(metrics.MetricError, match="execution_accuracy: ves_repeats must be at least 1"):
        ex(["SELECT 1"], ["SELECT 1"], singer_db, with_ves=True, ves_repeats=0)


def test_ves_with_real_timings_is_positive(singer_db):
    result = ex(["SELECT name FROM singer"], ["SELECT name FROM singer"], singer_db, with_ves=True, ves_repeats=5)
    assert result.scores["ves"] > 0


def test_trimmed_mean_drops_outliers():
    assert execution._trimmed_mean([1.0] * 20 + [100.0]) == pytest.approx(1.0)
    assert execution._trimmed_mean([1.0, 3.0]) == pytest.approx(2.0)


def test_result_comparison_rules():
    a, b = [(1,), (2,), (2,)], [(2,), (1,), (2,)]
    assert results_match(a, b, ordered=False)
    assert not results_match(a, b, ordered=True)
    assert not results_match([(1,), (2,)], a, ordered=False)
    assert results_match([(1,), (2,)], a, ordered=False, set_semantics=True)


@pytest.mark.parametrize(
    "sql, expected",
    [
        ("SELECT a FROM t ORDER BY a", True),
        ("select a from t order\n by a desc limit 3", True),
        ("SELECT 'order by' FROM t", False),
        ('SELECT "order by" FROM t', False),
        ("SELECT a FROM t -- ORDER BY a", False),
        ("WITH x AS (SELECT a FROM t ORDER BY a) SELECT a FROM x", False),
        ("SELECT a FROM t WHERE a IN (SELECT a FROM u ORDER BY a LIMIT 1)", False),
        ("SELECT a FROM t UNION SELECT b FROM u ORDER BY 1", True),
    ],
)
def test_top_level_order_by_detection(sql, expected):
    assert has_top_level_order_by(sql) is expected


@pytest.mark.parametrize(
    "sql, keyword",
    [
        ("  select 1", "select"),
        ("/* x */ WITH a AS (SELECT 1) SELECT * FROM a", "with"),
        ("-- c\nDELETE FROM t", "delete"),
        ("'select' ; drop", ""),
        ("", ""),
    ],
)
def test_leading_keyword(sql, keyword):
    assert leading_keyword(sql) == keyword
