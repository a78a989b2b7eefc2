"""Hostile names in the PR-comment report (issue 12): no user-supplied string can
change the report's structure. Checked on the raw Markdown and, where
markdown-it-py is installed, on the rendered HTML (CommonMark + GFM tables)."""

from __future__ import annotations

import re

import pytest

from pytest_cegi.core.run import Run
from pytest_cegi.judge.comparison import compare
from pytest_cegi.report import escape
from pytest_cegi.report.markdown import GITHUB_COMMENT_LIMIT, MARKER
from pytest_cegi.report.markdown import render as render_run


def render(run, *args, **kwargs):
    """The report of a run dict, typed once as the report takes it."""
    return render_run(Run.from_dict(run), *args, **kwargs)


HOSTILE = {
    "comment": "\n<!--",
    "fence": "\n```\n## INJECTED @admin",
    "cr": "a\rb|c\r\n| x |",
    "mention": "@admin please merge",
    "image": "![pwn](https://evil.example/x.png)",
    "link": "[click](https://evil.example)",
    "html": "<img src=x onerror=alert(1)>",
    "entity": "&#64;admin",
    "autolink": "<https://evil.example>",
    "emphasis": "**bold** _it_ ~~s~~ `code`",
}


def _html(text: str) -> str:
    markdown_it = pytest.importorskip("markdown_it")
    return markdown_it.MarkdownIt("commonmark").enable("table").render(text)


def _runs(make, name: str, where: str):
    def rec(variant, **kw):
        kw.setdefault("nodeid", f"benchmarks/test_{where}.py::test[{name if where == 'nodeid' else variant}]")
        task = name if where == "task" else "sql"
        return make.record(
            name if where == "variant" else variant,
            task=task,
            metric=name if where == "metric" else "exact_match",
            **kw,
        )

    failed = make.Check(
        limit="floor",
        threshold=0.9,
        value=0.5,
        source=name if where == "source" else "marker",
        status="fail",
        message=name if where == "message" else "score 0.5 < floor 0.9",
    )
    base = make.run([rec("base", reference=True), rec("lora", energy=1e-4), rec("q8", energy=5e-5)])
    head = make.run(
        [
            rec("base", reference=True),
            rec("lora", energy=3e-4, checks=[failed], verdict="fail"),
            rec("q8", energy=5e-5),
            rec("none", energy=0.0),
        ],  # "not charted" names it
        machine=dict(make.MACHINE, cpu=name if where == "cpu" else "EPYC"),
    )
    return base, head


@pytest.mark.parametrize("where", ["task", "variant", "metric", "nodeid", "message", "source", "cpu"])
@pytest.mark.parametrize("attack", list(HOSTILE))
def test_hostile_strings_cannot_change_the_structure(make, attack, where):
    name = HOSTILE[attack]
    base, head = _runs(make, name, where)
    for text in (render(head), render(head, compare(base, head), baseline_label=name)):
        assert "\r" not in text and text.startswith(MARKER)
        assert not re.search(r"^#+ INJECTED", text, re.M)
        assert "@admin" not in text  # a zero-width joiner follows every @
        html = _html(text)
        assert "<img" not in html and "<a " not in html and "<h2>INJECTED" not in html
        assert html.count("<!--") == 1  # only the sticky-comment marker
        # every table row has as many cells as its header
        for table in re.findall(r"<table>.*?</table>", html, re.S):
            widths = {len(re.findall(r"<t[hd]", row)) for row in re.findall(r"<tr>.*?</tr>", table, re.S)}
            assert len(widths) == 1, table


def test_a_refresh_command_cannot_close_its_code_block(make):
    base, head = _runs(make, "x", "variant")
    head["records"][1]["energy_kwh"] = 1e-9  # an improvement, so the refresh block shows
    for r in head["records"]:
        for w in r["windows"]:
            w["energy_kwh"] = w["emissions_kg"] = 1e-12
    text = render(head, compare(base, head), refresh_command="pytest-cegi update a\n```\n## INJECTED <!--")
    html = _html(text)
    assert "<h2>INJECTED" not in html and html.count("<!--") == 1


def test_the_mermaid_fence_cannot_be_closed_by_a_name(make):
    base, head = _runs(make, HOSTILE["fence"], "variant")
    text = render(head)
    chart = text[text.index("```mermaid") :]
    body = chart[len("```mermaid\n") : chart.index("\n```\n")]
    assert "INJECTED" in body or "INJECTED" not in text  # the name stays inside the chart
    assert "`" not in body and '"' not in body.split('"')[0]


def test_one_huge_name_cannot_push_violations_out(make):
    """The issue's attack: a 200 kB variant name pushed 11 of 14 violations out."""
    huge = "x" * 200_000
    records = [make.record("base", reference=True)]
    for i in range(14):
        check = make.Check(
            limit="floor", threshold=0.9, value=0.1, source="marker", status="fail", message=f"violation number {i}"
        )
        records.append(make.record(huge if i == 0 else f"v{i}", checks=[check], verdict="fail"))
    text = render(make.run(records))
    assert len(text) < GITHUB_COMMENT_LIMIT
    for i in range(14):
        assert f"violation number {i}" in text
    cells = [c for line in text.splitlines() if line.startswith("|") for c in line.split(" | ")]
    assert max(len(c) for c in cells) <= escape.CELL_CHARS + 10


def test_many_violations_are_all_listed_even_when_the_report_is_long(make):
    records = [make.record("base", reference=True)]
    for i in range(150):
        check = make.Check(
            limit="floor",
            threshold=0.9,
            value=0.1,
            source="budget " + "s" * 150,
            status="fail",
            message=f"violation {i:03d} " + "m" * 150,
        )
        records.append(make.record(f"variant-{i:03d}-" + "v" * 150, checks=[check], verdict="fail"))
    text = render(make.run(records))
    assert len(text) <= 60_000
    assert all(f"violation {i:03d}" in text for i in range(150))


def test_escape_helpers():
    assert escape.cell("a|b\nc") == "a\\|b c"
    assert escape.inline("@you") == "@\u200dyou"
    assert escape.inline("exact_match") == "exact_match" and escape.inline("_x_") == "\\_x\\_"
    assert escape.code("a`b") == "``a`b``"
    assert escape.fenced("x\n```\ny", "sh").startswith("````sh\n")
    assert len(escape.cell("y" * 10_000)) == escape.CELL_CHARS
    assert escape.label('a"b`c\nd') == "a'b'c d"
    assert escape.html("<!--") == "&lt;!--"


def test_terminal_and_junit_do_not_crash_on_hostile_names(make, tmp_path):
    from pytest_cegi.report import junit, terminal

    records = []
    for name in HOSTILE.values():
        check = make.Check(limit="floor", threshold=0.9, value=0.1, source=name, status="fail", message=name)
        records.append(make.record(name, task=name, checks=[check], verdict="fail"))
    run = Run.from_dict(make.run(records))
    lines = terminal.render(run)
    assert lines and all(isinstance(line, str) for line in lines)
    junit.write_checks(tmp_path / "j.xml", run)
    import xml.etree.ElementTree as ET

    ET.parse(tmp_path / "j.xml")  # well-formed XML whatever the names
