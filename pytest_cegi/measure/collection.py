"""Collection-time policy: the variant a test is parametrized with, each task's
reference, and running references first. Works on pytest items, but raises
`SettingsError` (the plugin turns it into a usage error) rather than importing
pytest's exceptions."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from pytest_cegi.core.settings import SettingsError
from pytest_cegi.measure.fixture import loaded_variant_class

REPEAT_PARAM = "__pytest_repeat_step_number"  # pytest-repeat's parameter


@dataclasses.dataclass
class Entry:
    """One cegi test of a task during collection: its item, spec and variant parameter."""

    item: Any
    spec: Any  # budgets.Spec
    variant: Any  # the Variant parameter, or None


def variant_param(item: Any) -> Any:
    """The Variant the item is parametrized with, or None."""
    variant_class = loaded_variant_class()
    callspec = getattr(item, "callspec", None)
    if variant_class is None or callspec is None:
        return None
    return next((v for v in callspec.params.values() if isinstance(v, variant_class)), None)


def default_variant(item: Any) -> str:
    """The variant name of a test that names none: its parametrization id, else its name."""
    callspec = getattr(item, "callspec", None)
    return callspec.id if callspec is not None else item.name


def choose_reference(task: str, entries: list[Entry], nodeid: Callable[[Any], str]) -> None:
    """Mark exactly one entry of the task as its reference, or none.

    A test marked reference=True (or whose variant says reference=True) is the
    reference; failing that, the one base variant (no adapter, LoRA or quantization)
    that nothing marked otherwise. Two candidates are a usage error, except
    pytest-repeat's copies of one test, which are one reference run several times.
    """

    def explicit(e: Entry) -> bool:
        return e.spec.reference is True or (
            e.spec.reference is None and e.variant is not None and e.variant.reference is True
        )

    chosen = [e for e in entries if explicit(e)]
    if not chosen:
        chosen = [
            e
            for e in entries
            if e.spec.reference is None and e.variant is not None and e.variant.reference is None and e.variant.is_base
        ]
        kind = "candidate reference variants (no adapter, LoRA or quantization)"
    else:
        kind = "tests marked as reference"
    if len(chosen) > 1 and len({_unrepeated_key(e.item) for e in chosen}) > 1:
        ids = ", ".join(nodeid(e.item) for e in chosen)
        raise SettingsError(f"task {task!r} has {len(chosen)} {kind}: {ids}; mark exactly one with reference=True")
    for entry in entries:
        entry.spec = dataclasses.replace(entry.spec, reference=any(entry is c for c in chosen))


def _unrepeated_key(item: Any) -> tuple[str, str, str]:
    """The item without pytest-repeat's step parameter: its copies share this key."""
    callspec = getattr(item, "callspec", None)
    params = {} if callspec is None else {k: v for k, v in callspec.params.items() if k != REPEAT_PARAM}
    return (str(item.path), getattr(item, "originalname", item.name), repr(sorted(params.items(), key=str)))


def reference_first(items: list[Any], tasks: Sequence[list[Entry]]) -> None:
    """Move each task's reference just before the first test of its task, so its score
    exists when the others finish. One stable sort: large suites stay O(n log n)."""
    position = {id(item): float(i) for i, item in enumerate(items)}
    for entries in tasks:
        first = min(position[id(e.item)] for e in entries)
        for ref in (e.item for e in entries if e.spec.reference):  # several only under pytest-repeat
            position[id(ref)] = first - 0.5
    items.sort(key=lambda item: position[id(item)])


def choose_references(items: list[Any], spec_of: Callable[[Any], Any], nodeid: Callable[[Any], str]) -> dict[int, Any]:
    """Pick each task's reference among items (spec_of: the item's Spec or None) and
    order references first; returns {id(item): its Spec with `reference` decided}."""
    by_task: dict[str, list[Entry]] = {}
    for item in items:
        spec = spec_of(item)
        if spec is not None:
            by_task.setdefault(spec.task, []).append(Entry(item, spec, variant_param(item)))
    for task, entries in by_task.items():
        choose_reference(task, entries, nodeid)
    reference_first(items, list(by_task.values()))
    return {id(e.item): e.spec for entries in by_task.values() for e in entries}
