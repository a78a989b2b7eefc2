import json

import pytest

from pytest_cegi.metrics import MetricError, load_dataset, load_records

ROWS = [{"prompt": "2+2=", "completion": "4"}, {"prompt": "capital of France?", "completion": "Paris, of course"}]


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_jsonl(tmp_path):
    path = write(tmp_path / "d.jsonl", "\n".join(json.dumps(r) for r in ROWS) + "\n\n")
    assert load_records(path) == ROWS


def test_json_list_and_data_key(tmp_path):
    assert load_records(write(tmp_path / "a.json", json.dumps(ROWS))) == ROWS
    assert load_records(write(tmp_path / "b.json", json.dumps({"data": ROWS}))) == ROWS


def test_csv_keeps_commas_inside_quotes(tmp_path):
    path = write(tmp_path / "d.csv", 'prompt,completion\n2+2=,4\ncapital of France?,"Paris, of course"\n')
    assert load_records(path) == ROWS


def test_bad_jsonl_line_is_located(tmp_path):
    path = write(tmp_path / "d.jsonl", json.dumps(ROWS[0]) + "\n{oops\n")
    with pytest.raises(MetricError, match=r"d\.jsonl:2: invalid JSON"):
        load_records(path)


def test_non_object_records_are_rejected(tmp_path):
    with pytest.raises(MetricError, match="record 2 is a list"):
        load_records(write(tmp_path / "d.jsonl", '{"a": 1}\n[1, 2]\n'))


def test_unsupported_or_missing_files(tmp_path):
    with pytest.raises(MetricError, match="unsupported data file type '.txt'"):
        load_records(write(tmp_path / "d.txt", "x"))
    with pytest.raises(MetricError, match="not found"):
        load_records(tmp_path / "missing.jsonl")


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_load_dataset_offline(tmp_path, suffix):
    pytest.importorskip("datasets")
    path = tmp_path / f"d{suffix}"
    if suffix == ".csv":
        write(path, 'prompt,completion\n2+2=,4\ncapital of France?,"Paris, of course"\n')
    else:
        write(path, "\n".join(json.dumps(r) for r in ROWS))
    ds = load_dataset(path, cache_dir=str(tmp_path / "cache"))
    assert ds.column_names == ["prompt", "completion"]
    assert [dict(r) for r in ds] == [{"prompt": r["prompt"], "completion": str(r["completion"])} for r in ROWS]
