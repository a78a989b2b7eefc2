"""What each meter is, by name: deterministic or measured, what its windows count.

Why a table by name in core, rather than attributes the meter classes alone define:
the judge and the reports read saved runs, whose `Method` keeps only the meter's
NAME. The layer contract (pyproject.toml) would let `judge` import `measure`, but the
meter modules are measuring code (codecarbon, NVML, the FLOP counter), which comparing
two saved runs must not load; and core/options.py, which lists the `--cegi-meter` choices,
sits in `core` and cannot import `measure` at all. So the traits of each name live
here, in the bottom layer; every meter class in `measure/meters/` declares
`traits = METER_TRAITS[...]` from this table (the Meter protocol requires it), and
nothing outside `measure/meters/` compares meter names: it asks `traits_of(name)`
(a saved run) or `meter.traits` (a live meter).

A meter's cache identity (which cached windows it may replay) depends on the machine
and the profile, not only on the name, so it stays a method on the meter
(`Meter.cache_identity`).

Adding a meter: its entry here (which also makes it a `--cegi-meter` choice, through
core/options.py), its class in `measure/meters/` with `traits = METER_TRAITS[name]`,
and its constructor in `measure/meters/__init__.py` (`build_meter`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MeterTraits:
    name: str
    # The same code gives the same figures on every run and every machine: its energy
    # is judged like cost, by tolerance alone (repeated or not), and compares across
    # hardware. A measured meter's windows share the machine's power draw, so under
    # xdist they are serialised and, on a pinned GPU, read from that device's counter.
    deterministic: bool
    # What its windows count: "energy" (a measured draw) or "work" (FLOPs, bytes and
    # dispatches, priced by a device profile); a meter counting work needs no second count.
    counts: str
    # Its energy is the process's CPU time priced by a power model (attributed), so
    # idle-spinning OpenMP threads are charged to the window (the OMP_WAIT_POLICY note).
    attributes_cpu_time: bool = False

    @property
    def counts_work(self) -> bool:
        return self.counts == "work"


METER_TRAITS: dict[str, MeterTraits] = {
    "codecarbon": MeterTraits("codecarbon", deterministic=False, counts="energy", attributes_cpu_time=True),
    "flops": MeterTraits("flops", deterministic=True, counts="work"),
    # the test fake stands in for a measuring meter: judged and wrapped like one
    "fake": MeterTraits("fake", deterministic=False, counts="energy"),
}
# A name this version does not know (a run file from elsewhere): a measured meter,
# the cautious reading (its figures are never compared across hardware).
_UNKNOWN = MeterTraits("", deterministic=False, counts="energy")


def traits_of(name: str | None) -> MeterTraits:
    """The traits of a meter by its (saved) name."""
    if name is None:
        return _UNKNOWN
    return METER_TRAITS.get(name, _UNKNOWN)


__all__ = ["METER_TRAITS", "MeterTraits", "traits_of"]
