"""The plugin's options, declared once: each setting's [tool.cegi] key, its --cegi-KEY
command-line option and its kind. Kept apart from `settings` (which parses and
validates them) because pytest imports this module in every session, to register
the options, whether or not the session uses pytest-cegi (issue 20: start-up cost).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_cegi.core.meter_traits import METER_TRAITS

METERS = tuple(METER_TRAITS)
# The cegi marker, as `pytest --markers` lists it.
MARKER_HELP = (
    "cegi(task=None, metric=None, floor=None, ceiling=None, max_emissions=None, max_energy=None, "
    "gain='relative', reference=None, phases=None, reference_score=None): "
    "task-score floor and CEGI ceiling (kg CO2e per % gain per million trainable parameters) "
    "and emission limits for this test; see pytest-cegi's README."
)


@dataclass(frozen=True)
class OptionSpec:
    """One setting: its [tool.cegi] key, its --cegi-KEY option (when `cli`), and how
    a value is parsed (`kind`). pytest's options, the command line -> settings mapping
    and the [tool.cegi] key check are all derived from `OPTIONS`.

    kind: "path" (relative to the file that names it), "flag" (true/false), "choice",
    "count" (a whole number >= 1), "country", "intensity", "profile" (a built-in name or
    a .json path), "tolerances", "deployment", "budget" (--cegi-budget: enforce, with an
    optional file; in a table, the [[budget]] entries)."""

    key: str
    kind: str
    help: str = ""
    metavar: str | None = None
    choices: tuple[str, ...] = ()
    cli: bool = True  # has a --cegi-KEY command-line option
    table: bool = True  # may be set in [tool.cegi] (or a budget file)

    @property
    def flag(self) -> str:
        return "--cegi-" + self.key.replace("_", "-")

    @property
    def dest(self) -> str:
        """The attribute pytest's parsed options hold this option's value under."""
        return "cegi_" + self.key

    def addoption_kwargs(self) -> dict[str, object]:
        """Keyword arguments for pytest's `addoption`; every default is None, "not given"."""
        kwargs: dict[str, object] = {"dest": self.dest, "default": None, "help": self.help}
        if self.metavar is not None:
            kwargs["metavar"] = self.metavar
        if self.kind == "budget":
            kwargs.update(nargs="?", const=True)
        elif self.kind == "flag":
            kwargs["action"] = "store_true"
        elif self.kind == "choice":
            kwargs["choices"] = self.choices
        elif self.kind == "count":
            kwargs["type"] = int
        elif self.kind == "intensity":
            kwargs["type"] = float
        return kwargs


OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec(
        "budget",
        "budget",
        "enforce budgets: violations fail the test. FILE: an extra TOML budget file.",
        metavar="FILE",
    ),
    OptionSpec("enforce", "flag", cli=False),
    OptionSpec("baseline", "path", "compare with a saved run (JSON); regressions are violations", metavar="FILE"),
    OptionSpec("save", "path", "write this run's results as JSON (atomic, schema-versioned)", metavar="FILE"),
    OptionSpec(
        "report",
        "path",
        "write a Markdown efficiency report (also appended to $GITHUB_STEP_SUMMARY)",
        metavar="FILE.md",
    ),
    OptionSpec("junit", "path", "write a standalone JUnit file with one testcase per budget check", metavar="FILE.xml"),
    OptionSpec("plot", "path", "write a score-vs-emissions Pareto plot (PNG and SVG)", metavar="FILE"),
    OptionSpec(
        "meter",
        "choice",
        "codecarbon: measured energy (default); flops: deterministic FLOP-based estimate; fake: for testing the plugin",
        choices=METERS,
    ),
    OptionSpec("flops_profile", "profile", cli=False),
    OptionSpec("repeat", "count", "repeat each measured inference window N times", metavar="N"),
    OptionSpec("country", "country", "carbon factor from this country's grid mix (offline data)", metavar="ISO3"),
    OptionSpec("carbon_intensity", "intensity", "fixed carbon factor in g CO2e per kWh", metavar="G_PER_KWH"),
    OptionSpec("invalid", "choice", choices=("fail", "warn"), cli=False),
    OptionSpec(
        "allow_energy_mismatch", "flag", "compare energy with a baseline from other hardware, meter or carbon factor"
    ),
    OptionSpec(
        "cache_dir",
        "path",
        "where fine-tuned adapters and tiny models are cached (default: .cegi-cache)",
        metavar="DIR",
    ),
    OptionSpec(
        "kernel_path",
        "choice",
        "bitsandbytes' CPU 4-bit kernels: native (what this CPU picks, default) or portable "
        "(the generic path on every CPU, so scores hold across x86-64 CPUs)",
        choices=("native", "portable"),
    ),
    OptionSpec("max_regression", "tolerances", cli=False),
    OptionSpec("deployment", "deployment", cli=False),
)
CLI_OPTIONS = tuple(o for o in OPTIONS if o.cli)

# Not a [tool.cegi] setting: it says which part of the suite this one command runs.
SHARD_FLAG = "--cegi-shard"
SHARD_OPTION: dict[str, Any] = dict(
    dest="cegi_shard",
    default=None,
    metavar="GROUP/SPLITS",
    help="this session runs shard GROUP of SPLITS of one suite (a CI matrix job); recorded in "
    "--cegi-save for `pytest-cegi merge`. pytest-split's --splits/--group declare it too.",
)


def cli_values(namespace: object) -> dict[str, object]:
    """{key: value} of the --cegi-* options in pytest's parsed options (None: not given)."""
    return {o.key: getattr(namespace, o.dest, None) for o in CLI_OPTIONS}


def find_pyproject(rootpath: Path, inipath: Path | None) -> Path | None:
    if inipath is not None and inipath.name == "pyproject.toml":
        return inipath
    candidate = rootpath / "pyproject.toml"
    return candidate if candidate.is_file() else None
