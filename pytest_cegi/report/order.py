"""The order reports list tests in: by task, the reference first, variants naturally.

"Naturally" means digits compare as numbers, so lora-r4 comes before lora-r16.
The same order in serial and xdist runs (whose records arrive as workers finish).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pytest_cegi.core.run import SavedRecord

_DIGITS = re.compile(r"(\d+)")


def natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """ "lora-r16" -> ("lora-r", 16, ""): numbers compare as numbers."""
    parts = _DIGITS.split(str(text))
    return tuple((0, int(p)) if i % 2 else (1, p.lower()) for i, p in enumerate(parts))


def record_key(saved: SavedRecord) -> tuple[str, bool, tuple[tuple[int, int | str], ...], str]:
    return (saved.task, not saved.record.reference, natural_key(saved.variant), saved.nodeid)


def ordered(records: Iterable[SavedRecord]) -> list[SavedRecord]:
    return sorted(records, key=record_key)
