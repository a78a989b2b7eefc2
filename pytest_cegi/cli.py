"""`pytest-cegi` command line: compare | report | update | pool | merge | calibrate.

    pytest-cegi compare BASE.json HEAD.json [--fail-on ...] [--format md|text|json]
    pytest-cegi report RUN.json [--baseline BASE.json] [-o report.md] [--plot pareto.png]
    pytest-cegi update RUN.json [BASELINE.json]   (default: [tool.cegi] baseline of ./pyproject.toml)
    pytest-cegi merge SHARD.json... -o RUN.json   (the runs of a CI matrix's shards, as one run)

Exit codes: 0 no regression, 1 regressions (or whatever --fail-on names),
2 usage errors and unusable files, 3 an internal error (a bug). Only a regression
exits 1, so a script can tell a verdict from a crash.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pytest_cegi.core.projection import DeploymentError
from pytest_cegi.core.run import Run
from pytest_cegi.core.run_file import BaselineError, atomic_write_text, load_run, write_run
from pytest_cegi.core.tolerances import SINGLE_SAMPLE
from pytest_cegi.core.units import QuantityError, parse_tolerance
from pytest_cegi.judge.comparison import Comparison, compare, record_tolerances, saved_tolerances
from pytest_cegi.judge.regression import QUANTITIES
from pytest_cegi.report.paths import refresh_command, report_path

OK, REGRESSED, USAGE, INTERNAL = 0, 1, 2, 3
EXIT_CODES = """exit codes:
  0  nothing fails
  1  a failing change: what --fail-on names (compare); a test failing its budgets (merge)
  2  a usage error or an unusable file (missing, not JSON, wrong schema)
  3  an internal error: a bug in pytest-cegi, with its traceback; a crash never exits 1"""
_TRIGGERS = (*QUANTITIES, "error", "removed", "mismatch")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["calibrate"]:
        from pytest_cegi.measure.calibrate import calibrate_main

        return calibrate_main(argv[1:])
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        return args.handler(args)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else USAGE
    except (BaselineError, DeploymentError, QuantityError, _UsageError, OSError) as exc:
        print(f"pytest-cegi: error: {exc}", file=sys.stderr)
        return USAGE
    except Exception:  # a bug: never exit 1, which means "regression"
        import traceback

        traceback.print_exc()
        print(
            "pytest-cegi: internal error (a bug in pytest-cegi; please report it with the traceback above)",
            file=sys.stderr,
        )
        return INTERNAL


class _UsageError(Exception):
    pass


def version() -> str:
    """The installed distribution's version; the package's own where it is not installed
    (run from a source tree)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("pytest-cegi")
    except PackageNotFoundError:
        from pytest_cegi import __version__

        return __version__


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pytest-cegi",
        description="Compare, report and promote pytest-cegi runs.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = p.add_subparsers(dest="command", required=True, metavar="{compare,report,update,pool,merge,calibrate}")

    c = sub.add_parser(
        "compare",
        help="compare a run with a baseline; exit 1 on regressions",
        description="Compare HEAD with BASE, test by test; exit 1 when a change that --fail-on names is found.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    c.add_argument("base", help="baseline run JSON (e.g. benchmarks/baseline.json)")
    c.add_argument("head", help="run JSON to check (from pytest --cegi-save)")
    c.add_argument(
        "--fail-on",
        default="regression,error,removed",
        type=_fail_on,
        metavar="LIST",
        help="comma-separated: regression (any quantity), score, cost, modelled_energy, modelled_emissions, "
        "emissions, energy, cegi, "
        "error (a test that raised or lost a figure the baseline has), removed, mismatch, or none "
        "(default: regression,error,removed)",
    )
    c.add_argument(
        "--format",
        choices=("text", "md", "json"),
        default="text",
        help="text: a summary and one line per change, for a log (default); md: the Markdown report, "
        "for a PR comment; json: the whole comparison, for scripts",
    )
    c.add_argument("-o", "--output", help="write the output here instead of stdout")
    _comparison_options(c)
    c.set_defaults(handler=_compare)

    r = sub.add_parser("report", help="render the Markdown report and Pareto plot of a saved run")
    r.add_argument("run", help="run JSON")
    r.add_argument("--baseline", help="baseline run JSON to show deltas against")
    r.add_argument("-o", "--output", help="Markdown file (default: stdout)")
    r.add_argument(
        "--plot", help="Pareto plot file; .png and .svg are both written (default with --output: <output>-pareto.png)"
    )
    r.add_argument("--no-plot", action="store_true", help="do not draw the plot")
    r.add_argument(
        "--plot-emissions",
        choices=("measured", "modelled"),
        default="measured",
        help="the plot's x axis: measured emissions (default) or those modelled from counted work",
    )
    r.add_argument("--step-summary", action="store_true", help="also append to $GITHUB_STEP_SUMMARY")
    _comparison_options(r)
    r.set_defaults(handler=_report)

    u = sub.add_parser("update", help="promote a run to the committed baseline")
    u.add_argument("run", help="run JSON to promote")
    u.add_argument(
        "baseline",
        nargs="?",
        default=None,
        help="default: the baseline named in [tool.cegi] of the pyproject.toml in this folder "
        "or above; without one, name it",
    )
    u.add_argument("--force", action="store_true", help="promote even a partial run or one with invalid measurements")
    u.set_defaults(handler=_update)

    pl = sub.add_parser("pool", help="pool the repeats of several runs of the same tests (alternated A/B runs)")
    pl.add_argument("runs", nargs="+", help="run JSON files of the same tests")
    pl.add_argument("-o", "--output", required=True, help="pooled run JSON to write")
    pl.set_defaults(handler=_pool)

    m = sub.add_parser(
        "merge",
        help="merge the runs of disjoint shards of one suite (CI matrix jobs) into one run",
        description="Merge the saved runs of disjoint shards of one suite into one run that compare, report, "
        "update and the plot take. References resolve across shards: a candidate whose reference ran in "
        "another shard gets its gain, CEGI and ceiling check here. A test in two shards, shards of different "
        "schema versions or settings are usage errors; a shard that stopped early or a missing declared "
        "shard marks the merged run partial. Exit 1 when, under --cegi-budget, a merged test fails a budget.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    m.add_argument("shards", nargs="+", help="the shards' run JSON files (pytest --cegi-save)")
    m.add_argument("-o", "--output", required=True, help="merged run JSON to write")
    m.set_defaults(handler=_merge)

    # Listed for --help; main() hands its arguments to the calibration code's own parser.
    sub.add_parser(
        "calibrate", add_help=False, help="measure a flops-meter device profile for this machine (see calibrate --help)"
    )
    return p


def _comparison_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--max-regression",
        action="append",
        default=[],
        metavar="QUANTITY=TOL",
        help="override a tolerance, e.g. emissions=15%% or score=0.02 (repeatable)",
    )
    p.add_argument(
        "--allow-energy-mismatch",
        action="store_true",
        help="compare energy, emissions and CEGI even across hardware, meter or carbon-factor changes",
    )


def _fail_on(text: str) -> set:
    chosen = {t.strip() for t in text.split(",") if t.strip()}
    if "none" in chosen:
        return set()
    if "regression" in chosen:
        chosen = (chosen - {"regression"}) | set(QUANTITIES)
    unknown = chosen - set(_TRIGGERS)
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown --fail-on value {sorted(unknown)[0]!r}")
    return chosen


def _tolerances(args, head_run: Run):
    """Tolerances per record: saved settings < the record's own < --max-regression."""
    overrides = {}
    for item in args.max_regression:
        quantity, sep, value = item.partition("=")
        if not sep or quantity not in (*QUANTITIES, SINGLE_SAMPLE):
            raise _UsageError(
                f"--max-regression expects QUANTITY=TOL with QUANTITY one of {', '.join(QUANTITIES)} "
                f"(or {SINGLE_SAMPLE}, the tolerance of measured figures with too few repeats), got {item!r}"
            )
        overrides[quantity] = (parse_tolerance(value), "--max-regression")
    return record_tolerances(saved_tolerances(head_run.settings), overrides)


def _comparison(args, base: Run, head: Run) -> Comparison:
    """head against base, with the tolerances head saved and the command line's."""
    return compare(base, head, _tolerances(args, head), allow_energy_mismatch=args.allow_energy_mismatch)


def _emit(text: str, output: str | None) -> None:
    if output:
        atomic_write_text(output, text)
    else:
        sys.stdout.write(text)


def _pool(args) -> int:
    from pytest_cegi.judge.pooling import pool_runs

    pooled = pool_runs([(path, load_run(path)) for path in args.runs])
    atomic_write_text(args.output, json.dumps(pooled, indent=2, sort_keys=True) + "\n")
    print(f"pytest-cegi: pooled {len(args.runs)} runs ({len(pooled['records'])} tests) into {args.output}")
    return 0


def _merge(args) -> int:
    from pytest_cegi.core.run_file import load_run_versioned
    from pytest_cegi.judge.merge import MergeError, Shard, merge_runs

    shards = [Shard(path, *load_run_versioned(path)) for path in args.shards]
    try:
        merged = merge_runs(shards)
    except MergeError as exc:
        raise _UsageError(str(exc)) from None
    write_run(args.output, merged.run)
    print(
        f"pytest-cegi: merged {len(shards)} shard(s) ({len(merged.run['records'])} tests) into {args.output}; "
        f"{len(merged.resolved)} candidate(s) judged against a reference from another shard",
        file=sys.stderr,
    )
    if merged.run.get("incomplete"):
        print(f"pytest-cegi: WARNING the merged run is partial: {merged.run['incomplete']}", file=sys.stderr)
    if merged.failing:
        print(f"pytest-cegi: {len(merged.failing)} test(s) fail their budgets:", file=sys.stderr)
        for line in merged.failing:
            print(f"  {line}", file=sys.stderr)
        return REGRESSED
    return OK


def _compare(args) -> int:
    base, head = Run.from_dict(load_run(args.base)), Run.from_dict(load_run(args.head))
    for path, run in ((args.base, base), (args.head, head)):
        if run.incomplete:  # its missing tests read as removed or added
            print(f"pytest-cegi: WARNING {path} is a partial run: {run.incomplete}", file=sys.stderr)
    comparison = _comparison(args, base, head)
    if args.format == "json":
        text = json.dumps(comparison.to_dict(), indent=2) + "\n"
    elif args.format == "md":
        from pytest_cegi.report.markdown import render

        text = render(
            head,
            comparison,
            baseline_label=report_path(args.base, Path.cwd()),
            refresh_command=refresh_command(args.head, args.base),
        )
    else:
        text = format_text(comparison, report_path(args.base, Path.cwd()), refresh_command(args.head, args.base))
    _emit(text, args.output)
    failures = comparison.failed(args.fail_on)
    if failures:
        print(f"pytest-cegi: {len(failures)} failing change(s) against {args.base}", file=sys.stderr)
        return REGRESSED
    return OK


def format_text(comparison: Comparison, base_label: str, refresh: str) -> str:
    c = comparison.counts()
    lines = [
        f"pytest-cegi compare: {c['error']} errored, {c['regression']} regression(s), "
        f"{c['improvement']} improvement(s), {c['unchanged']} unchanged, {c['not compared']} not compared, "
        f"{c['added']} added, {c['removed']} removed (baseline {base_label})"
    ]
    lines += [f"WARNING {m.describe()}" for m in comparison.mismatches]
    if comparison.refused:
        lines.append(
            f"NOT COMPARED {', '.join(comparison.refused)} (environment differs; "
            f"--allow-energy-mismatch to compare anyway)"
        )
    if comparison.unrepeated:
        lines.append(
            "NOTE some energy comparisons rest on fewer than 3 repeats a side: gated against gross "
            "changes only (single-sample tolerance); use --cegi-repeat 5 in both runs to gate finer ones"
        )
    for r in comparison.records:
        if r.status != "unchanged":  # added and removed records have no deltas
            lines.append(f"{r.status.upper():<12}{r.task} / {r.variant}")
            lines += [f"{'':12}- {reason}" for reason in r.reasons]
            if r.configuration and r.status in ("regression", "improvement", "error"):
                lines.append(f"{'':12}  configuration changed: {'; '.join(r.configuration)}")
    if comparison.improvements():
        lines.append(f"Improvements found: refresh the baseline with `{refresh}`.")
    return "\n".join(lines) + "\n"


def _report(args) -> int:
    from pytest_cegi.report.markdown import render, write_report

    head = Run.from_dict(load_run(args.run))
    comparison = _comparison(args, Run.from_dict(load_run(args.baseline)), head) if args.baseline else None
    try:  # only for the hint: a broken pyproject.toml here must not stop the report
        baseline = args.baseline or configured_baseline()
    except _UsageError:
        baseline = None
    text = render(
        head,
        comparison,
        baseline_label=report_path(args.baseline, Path.cwd()) if args.baseline else None,
        refresh_command=refresh_command(args.run, baseline),
    )
    if args.output:
        write_report(text, args.output)
    else:
        sys.stdout.write(text)
    if args.step_summary:
        write_report(text, None)
    plot = None if args.no_plot else args.plot
    if plot is None and args.output and not args.no_plot:
        out = Path(args.output)
        plot = str(out.with_name(out.stem + "-pareto.png"))
    if plot:
        from pytest_cegi.report.plot import PlotUnavailable, plot_pareto

        try:
            paths = plot_pareto(head, plot, emissions=args.plot_emissions)
        except PlotUnavailable as exc:
            if args.plot:  # asked for explicitly: an error
                raise _UsageError(str(exc)) from None
            print(f"pytest-cegi: {exc}; no plot written", file=sys.stderr)
        else:
            print(f"pytest-cegi: wrote {', '.join(map(str, paths))}", file=sys.stderr)
    return OK


def configured_baseline(start: Path | None = None) -> str | None:
    """The `baseline` of [tool.cegi] in the nearest pyproject.toml (this folder or above),
    as a path relative to the working directory when it lies inside it."""
    from pytest_cegi.core.settings import SettingsError, read_table

    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        pyproject = folder / "pyproject.toml"
        if not pyproject.is_file():
            continue
        try:
            value = read_table(pyproject, str(pyproject), top_level_ok=False).get("baseline")
        except SettingsError as exc:
            raise _UsageError(str(exc)) from None
        if not isinstance(value, str):
            return None
        path = (folder / value).resolve()
        try:
            return str(path.relative_to(Path.cwd().resolve()))
        except ValueError:
            return str(path)
    return None


def _update(args) -> int:
    if args.baseline is None:
        # Never guess a path (a guess once created benchmarks/ in the wrong project).
        args.baseline = configured_baseline()
        if args.baseline is None:
            raise _UsageError(
                "update RUN.json needs the baseline to write: name it "
                "(pytest-cegi update RUN.json BASELINE.json) or set `baseline` in "
                "[tool.cegi] of pyproject.toml"
            )
        print(f"pytest-cegi: baseline from [tool.cegi]: {args.baseline}", file=sys.stderr)
    run = load_run(args.run)
    if run.get("incomplete") and not args.force:
        raise _UsageError(
            f"{args.run} is a partial run: {run['incomplete']}. A baseline without the tests it lacks "
            "would gate nothing for them; rerun the whole session, or pass --force"
        )
    invalid = [r["nodeid"] for r in run["records"] if r.get("verdict") in ("invalid", "error")]
    if invalid and not args.force:
        raise _UsageError(
            f"{args.run} has {len(invalid)} invalid measurement(s) or errored test(s) "
            f"(first: {invalid[0]}); "
            f"a baseline built on them would hide regressions. Fix them or pass --force"
        )
    if not run["records"]:
        raise _UsageError(f"{args.run} has no records; nothing to promote")
    write_run(args.baseline, run)
    print(
        f"pytest-cegi: {args.baseline} now holds {len(run['records'])} record(s) from {args.run}; commit it.",
        file=sys.stderr,
    )
    return OK


if __name__ == "__main__":
    sys.exit(main())
