"""The meter interface: a meter turns a block of work into one measured `Window`.

Every meter (codecarbon, flops, the test fake) implements `Meter`. The fixture
only ever talks to this interface, so meters are interchangeable.
"""

from __future__ import annotations

import contextlib
from typing import Protocol

from pytest_cegi.core.meter_traits import MeterTraits
from pytest_cegi.core.window import Method, WindowHandle


class Meter(Protocol):
    name: str
    traits: MeterTraits  # deterministic or measured, what it counts (core/meter_traits.py)

    def window(self, phase: str) -> contextlib.AbstractContextManager[WindowHandle]:
        """Measure the body of the `with` block as one window."""

    def method(self) -> Method:
        """Describe how this meter measures (used before any window exists)."""

    def cache_identity(self) -> str:
        """Which cached windows this meter may replay: those recorded under the same
        identity (the meter, and what its figures depend on: CPU, profile, device)."""

    def close(self) -> None:
        """Release the tracker; called once at session end."""


def synchronize_accelerators() -> None:
    """Wait for queued CUDA work so it is charged to the window it belongs to.

    Only touches torch if something already imported it: never pull torch in.
    """
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()
