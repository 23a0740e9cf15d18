"""End to end: ``dbus-bms run`` with a JK NW on a pty borrowing current, SoC and consumed Ah from a
SmartShunt that the GX's VE.Direct driver publishes (the simulated ``com.victronenergy.battery.ttyS5``
on the same private bus): the published current, SoC and consumed Ah are the shunt's, the cells the
JK's, /Info/Sources says so; the shunt leaving the bus, or its monitor disconnected, falls back to
the JK's values without the fail-safe, and its return is lent again, unless it counts the current
the other way round from the JK."""

from __future__ import annotations

import pytest

from dbus_bms.sim.harness import DaemonHarness
from dbus_bms.sim.vedirect_shunt import SERVICE, VeDirectShunt

from .test_jbd_e2e import FAST

SOURCE = f"dbus-battery {SERVICE}"
LENT = f"current: {SOURCE}; soc: {SOURCE}; consumed_ah: {SOURCE}; rest: jk-nw"
FALLEN = "; ".join(f"{name}: jk-nw ({SOURCE} silent)" for name in ("current", "soc", "consumed_ah")) + "; rest: jk-nw"


class ShuntHarness(DaemonHarness):
    """One JK NW battery (``jk_nw``, the last in the config) borrowing from the shunt's service."""

    def __init__(self, private, tmp) -> None:
        super().__init__(private, tmp, count=0, families=("jk-nw",), extra_config=FAST)
        self.jk = self.family_sims["jk_nw"]
        # A current the shunt can agree with in sign, and that differs from its own.
        self.jk.pack.current_override = 10.0

    def config_text(self) -> str:
        return super().config_text() + f"    borrow:\n      - type: dbus-battery\n        service: {SERVICE}\n"


def cells(items: dict) -> list[float]:
    return [items[f"/Voltages/Cell{i}"] for i in range(1, 17)]


def in_service(items: dict) -> bool:
    return (items["/Connected"] == 1 and items["/Alarms/BmsCable"] == 0 and items["/Io/AllowToCharge"] == 1
            and "Fail-safe" not in items["/Info/ChargeLimitation"])


async def test_the_vedirect_shunt_lends_current_and_soc_and_its_leaving_falls_back(private_bus, tmp_path):
    async with VeDirectShunt(private_bus.address, current=12.5, soc=87.5, consumed_ah=-35.0) as shunt:
        h = ShuntHarness(private_bus, tmp_path)
        await h.start()
        try:
            items = await h.wait_for(lambda it: it.get("/Connected") == 1 and it.get("/Info/Sources") == LENT, "jk_nw")
            assert (items["/Dc/0/Current"], items["/Soc"], items["/ConsumedAmphours"]) == (12.5, 87.5, -35.0)
            # The shunt knows no capacity: the JK's full capacity stays, less what the shunt counts out.
            full = h.jk.pack.sample().capacity_full
            assert items["/InstalledCapacity"] == full and items["/Capacity"] == pytest.approx(full - 35.0)
            assert cells(items) == pytest.approx(h.jk.pack.cell_voltages(), abs=0.002)
            assert items["/Dc/0/Voltage"] == pytest.approx(h.jk.pack.sample().voltage, abs=0.05)
            assert items["/Serial"] == h.jk.device.serial

            shunt.set({"/Dc/0/Current": 14.25, "/Soc": 88.0, "/ConsumedAmphours": -33.5})
            changed = (14.25, 88.0, -33.5)
            await h.wait_for(lambda it: (it["/Dc/0/Current"], it["/Soc"], it["/ConsumedAmphours"]) == changed, "jk_nw")

            shunt.leave()
            items = await h.wait_for(lambda it: it.get("/Info/Sources") == FALLEN, "jk_nw")
            own = h.jk.pack.sample()
            assert items["/Dc/0/Current"] == pytest.approx(own.current, abs=0.05) and items["/Soc"] == own.soc
            assert in_service(items)
            assert h.daemon_log().count(f"{SOURCE} silent for over") == 1
            assert f"{SERVICE} is not on the D-Bus" in h.daemon_log()

            await shunt.start()
            items = await h.wait_for(lambda it: it.get("/Info/Sources") == LENT, "jk_nw")
            assert (items["/Dc/0/Current"], items["/Soc"]) == (14.25, 88.0) and in_service(items)
        finally:
            await h.stop()


async def test_the_vedirect_shunt_appearing_late_is_lent_and_disconnected_falls_back(private_bus, tmp_path):
    h = ShuntHarness(private_bus, tmp_path)
    await h.start()
    try:
        # No shunt on the bus yet: the JK's own values, published at once, as the shunt is awaited.
        items = await h.wait_for(lambda it: it.get("/Connected") == 1 and it.get("/Soc") is not None, "jk_nw")
        assert items["/Soc"] == h.jk.pack.sample().soc and in_service(items)
        async with VeDirectShunt(private_bus.address, current=11.0, soc=71.0) as shunt:
            items = await h.wait_for(lambda it: it.get("/Info/Sources") == LENT, "jk_nw")
            assert (items["/Dc/0/Current"], items["/Soc"]) == (11.0, 71.0)

            shunt.set({"/Connected": 0})
            items = await h.wait_for(lambda it: it.get("/Info/Sources") == FALLEN, "jk_nw")
            assert items["/Soc"] == h.jk.pack.sample().soc and in_service(items)
            assert f"{SERVICE} reports /Connected 0" in h.daemon_log()

            # Back, but counting the other way round from the JK (+10 A): refused, as any lender of current.
            shunt.set({"/Connected": 1, "/Dc/0/Current": -30.0})
            opposed = f"current: jk-nw ({SOURCE} current of opposite sign)"
            items = await h.wait_for(lambda it: (it.get("/Info/Sources") or "").startswith(opposed), "jk_nw")
            assert items["/Dc/0/Current"] == 10.0 and items["/Soc"] == h.jk.pack.sample().soc and in_service(items)
    finally:
        await h.stop()
