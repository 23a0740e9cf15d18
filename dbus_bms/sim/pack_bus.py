"""What the simulated RS485 buses share: several packs, each at its address with its own simulated
pack and fault, on one line."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .faults import Fault


class BusPacks:
    """Every pack on a bus, moved on together: what a server advances as the bus's ``pack``."""

    def __init__(self, packs: Iterable[Any]) -> None:
        self.packs = list(packs)

    def advance(self, dt: float) -> None:
        for p in self.packs:
            p.pack.advance(dt)


class PackBus:
    """``packs`` by address, each with its own ``pack`` and ``fault``; ``echo``: an adapter that
    puts the host's own bytes in front of every reply. A subclass answers what the host wrote
    (``handle``)."""

    def __init__(self, packs: dict[int, Any], *, echo: bool = False) -> None:
        self.packs = packs
        self.pack = BusPacks(packs.values())
        self.echo = echo
        self._fault = Fault.NONE

    @property
    def fault(self) -> Fault:
        """The fault last set for every pack at once (each pack's own ``fault`` may differ since)."""
        return self._fault

    @fault.setter
    def fault(self, fault: Fault) -> None:
        self._fault = fault
        for p in self.packs.values():
            p.fault = fault

    @property
    def requests(self) -> dict[int, int]:
        """Requests each pack has taken, by address."""
        return {a: p.requests for a, p in self.packs.items()}

    def handle(self, data: bytes) -> bytes:
        raise NotImplementedError
