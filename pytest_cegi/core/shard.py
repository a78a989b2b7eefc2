"""Which part of a sharded suite a session ran: group i of N.

A CI matrix splits one suite into N shards (pytest-split's `--splits N --group i`, or
any selection declared with `--cegi-shard i/N`). Each shard's run file records its
group, so `pytest-cegi merge` can tell a complete set of shards from one that lacks
a group, and a candidate whose reference ran in another shard is left for the merge
to judge instead of failing for want of a reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class ShardError(ValueError):
    """A shard declaration that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class Shard:
    group: int  # 1-based, as pytest-split counts
    splits: int
    by: str  # what declared it: "--cegi-shard" or "pytest-split"

    @property
    def label(self) -> str:
        return f"{self.group}/{self.splits}"

    def to_dict(self) -> dict[str, Any]:
        return {"group": self.group, "splits": self.splits, "by": self.by}


def parse_shard(text: str, by: str = "--cegi-shard") -> Shard:
    """ "2/3" -> Shard(2, 3); ShardError for anything else."""
    group, sep, splits = str(text).strip().partition("/")
    if not sep or not group.strip().isdigit() or not splits.strip().isdigit():
        raise ShardError(f"{by} expects GROUP/SPLITS such as 2/3, got {text!r}")
    return checked(int(group), int(splits), by)


def checked(group: int, splits: int, by: str) -> Shard:
    if splits < 1 or not 1 <= group <= splits:
        raise ShardError(f"{by}: group {group} of {splits} splits; the group must be between 1 and {max(splits, 1)}")
    return Shard(group, splits, by)


def declared_shard(cegi_shard: str | None, splits: object, group: object) -> Shard | None:
    """The session's shard from --cegi-shard and pytest-split's --splits/--group (None
    where neither is given); ShardError where they disagree or are malformed."""
    from_split = None
    if isinstance(splits, int) and isinstance(group, int):
        from_split = checked(group, splits, "pytest-split")
    if cegi_shard is None:
        return from_split
    own = parse_shard(cegi_shard)
    if from_split is not None and (from_split.group, from_split.splits) != (own.group, own.splits):
        raise ShardError(
            f"--cegi-shard {own.label} disagrees with pytest-split's --splits {splits} --group {group}; "
            "give one of them, or the same group"
        )
    return own


__all__ = ["Shard", "ShardError", "checked", "declared_shard", "parse_shard"]
