"""The order reports list tests in: by task, the reference first, variants naturally.

"Naturally" means digits compare as numbers, so lora-r4 comes before lora-r16.
The same order in serial and xdist runs (whose records arrive as workers finish).
"""

from __future__ import annotations

import re

_DIGITS = re.compile(r"(\d+)")


def natural_key(text: str) -> tuple:
    """ "lora-r16" -> ("lora-r", 16, ""): numbers compare as numbers."""
    parts = _DIGITS.split(str(text))
    return tuple((0, int(p)) if i % 2 else (1, p.lower()) for i, p in enumerate(parts))


def record_key(record: dict) -> tuple:
    return (
        record.get("task", ""),
        not record.get("reference"),
        natural_key(record.get("variant", "")),
        record.get("nodeid", ""),
    )


def ordered(records: list[dict]) -> list[dict]:
    return sorted(records, key=record_key)
