"""`pytest-cegi --version` and the help text (issue 20)."""

from importlib.metadata import version

import pytest

import pytest_cegi
from pytest_cegi.cli import EXIT_CODES, INTERNAL, OK, REGRESSED, USAGE, main


def test_version_prints_the_installed_version(capsys):
    assert main(["--version"]) == OK
    out = capsys.readouterr().out
    assert out == f"pytest-cegi {version('pytest-cegi')}\n"
    assert version("pytest-cegi") == pytest_cegi.__version__


def test_version_falls_back_to_the_package_outside_an_install(monkeypatch, capsys):
    import importlib.metadata

    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    assert main(["--version"]) == OK
    assert capsys.readouterr().out == f"pytest-cegi {pytest_cegi.__version__}\n"


@pytest.mark.parametrize("argv", [["compare", "--help"], ["--help"]])
def test_help_lists_the_exit_codes(argv, capsys):
    assert main(argv) == OK
    out = capsys.readouterr().out
    assert EXIT_CODES in out  # verbatim: the formatter keeps its lines
    for code in (OK, REGRESSED, USAGE, INTERNAL):
        assert f"\n  {code}  " in out


def test_exit_codes_are_the_documented_ones(tmp_path, capsys):
    # 2: a usage error (argparse) and an unusable file; 1 and 0 are tested in test_cli.py
    assert main(["compare"]) == USAGE
    assert main(["compare", str(tmp_path / "missing.json"), str(tmp_path / "missing.json")]) == USAGE
    capsys.readouterr()


def test_format_has_help(capsys):
    main(["compare", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "md: the Markdown report, for a PR comment" in out
    assert "json: the whole comparison" in out


def test_docs_give_the_same_exit_codes():
    from pathlib import Path

    docs = " ".join((Path(__file__).resolve().parents[2] / "docs" / "ci-gate.md").read_text().split())
    for line in EXIT_CODES.splitlines()[1:]:
        code, meaning = line.split(None, 1)
        assert f"| {code} | {meaning} |" in docs
