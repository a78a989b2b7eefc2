"""The meters: each turns a block of work into one `Window` (base.py: the protocol).

`build_meter` is the one place that maps a `--cegi-meter` name to its class; what
each meter is (deterministic or measured, what it counts) is core/meter_traits.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_cegi.core.settings import Settings
    from pytest_cegi.measure.meters.base import Meter


def build_meter(settings: Settings) -> Meter:
    """The meter `settings.meter` names (each module imported only when chosen)."""
    if settings.meter == "fake":
        from pytest_cegi.measure.meters.fake import FakeMeter

        return FakeMeter(settings.carbon)
    if settings.meter == "flops":
        from pytest_cegi.measure.meters.flops import FlopsMeter

        return FlopsMeter(settings.carbon, profile=settings.flops_profile)
    from pytest_cegi.measure.meters.codecarbon import CodecarbonMeter

    return CodecarbonMeter(settings.carbon)
