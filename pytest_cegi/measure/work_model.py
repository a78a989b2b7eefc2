"""Modelled energy on every window: counted work x a device profile x the carbon factor.

Whatever the meter measured, a window whose torch work was counted also carries
`modelled_energy_kwh` and `modelled_emissions_kg`, labelled with the profile that
priced them. They are a pure function of (the counted work, the profile, the factor),
so the gate can compare them across machines that share a profile at a tight
tolerance (docs/meters.md, "The work model").
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from pytest_cegi.core.window import Window
from pytest_cegi.measure.profile import Priced, Profile
from pytest_cegi.measure.work import WorkCount


@dataclass(frozen=True)
class WorkModel:
    profile: Profile
    carbon_factor_g_per_kwh: float

    def price(self, work: WorkCount) -> Priced:
        return self.profile.price(work.to_dict())

    def apply(self, window: Window, work: WorkCount, priced: Priced | None = None) -> Window:
        """`window` with its counted work, fingerprint and modelled figures (`priced`:
        the work's price, when the caller has it already)."""
        priced = priced or self.price(work)
        return dataclasses.replace(
            window,
            flops=int(work.flops.total),
            work=work.to_dict(),
            fingerprint=work.fingerprint(),
            modelled_energy_kwh=priced.energy_kwh,
            modelled_emissions_kg=priced.energy_kwh * self.carbon_factor_g_per_kwh / 1000.0,
            modelled_by=self.profile.describe(),
        )
