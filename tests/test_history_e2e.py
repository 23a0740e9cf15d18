"""End to end: ``dbus-bms run`` against a simulated JK on a pty keeps /History/*: the extremes are
those of the readings the JK sent, a refused reading moves none of them, and a restart brings them
back from the state dir at its first publish."""

from __future__ import annotations

import re
from typing import Any

from dbus_bms.model import Sample
from dbus_bms.protocols import jk_nw
from dbus_bms.sim.harness import DaemonHarness

FAST = "poll_interval: 0.2\ncharge:\n  stale_after: 2.0\n"


class Recorder:
    """Wraps a simulated JK's replies: keeps every reading it sent as the daemon decodes it, or
    sends, while ``refuse`` is set, one with an impossible cell 1 (refused) and hot sensors."""

    def __init__(self, sim: Any) -> None:
        self.sim = sim
        self.shown: list[Sample] = []
        self.refuse = False
        sim.reply = self.reply

    def reply(self) -> bytes:
        sample = self.sim.pack.sample()
        sample.device = self.sim.device
        if self.refuse:
            sample.cell_voltages[0] = 5.5
            sample.temperatures = [80.0, 85.0]
            return jk_nw.encode_status(sample)
        frame = jk_nw.encode_status(sample)
        self.shown.append(jk_nw.decode(frame))
        return frame

    def extremes(self) -> dict[str, float]:
        cells = [v for s in self.shown for v in s.cell_voltages]
        volts = [s.voltage for s in self.shown]
        temps = [t for s in self.shown for t in s.temperatures]
        return {
            "/History/MinimumCellVoltage": min(cells), "/History/MaximumCellVoltage": max(cells),
            "/History/MinimumVoltage": min(volts), "/History/MaximumVoltage": max(volts),
            "/History/MinimumTemperature": min(temps), "/History/MaximumTemperature": max(temps),
        }


def harness(private_bus, tmp_path) -> tuple[DaemonHarness, Recorder]:
    h = DaemonHarness(private_bus, tmp_path, extra_config=FAST)
    pack = h.sims[0].pack
    # Discharging at 60 to 90 A and changing every poll: energy flows, and no reading repeats.
    pack.swing_amps, pack.elapsed = 150.0, 540.0
    return h, Recorder(h.sims[0])


def history(items: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in items.items() if k.startswith("/History/")}


def bad_frames(items: dict[str, Any]) -> int:
    return int(re.search(r"bad frames (\d+)", items["/Mgmt/Connection"]).group(1))


def matches(rec: Recorder):
    def check(items: dict[str, Any]) -> bool:
        return items.get("/Connected") == 1 and bool(rec.shown) and all(
            items.get(k) == v for k, v in rec.extremes().items())
    return check


async def test_history_follows_the_readings_ignores_a_refused_one_and_survives_a_restart(private_bus, tmp_path):
    h, rec = harness(private_bus, tmp_path)
    await h.start()
    try:
        await h.wait_for(matches(rec))
        h.sims[0].pack.temperature = 35.0  # the sensors read 35 and 36 °C
        items = await h.wait_for(lambda it: it.get("/History/MaximumTemperature") == 36.0)
        h.sims[0].pack.temperature = 22.0
        before = bad_frames(items)

        rec.refuse = True
        await h.wait_for(lambda it: bad_frames(it) >= before + 5)
        rec.refuse = False
        items = await h.wait_for(lambda it: matches(rec)(it) and it["/History/DischargedEnergy"] > 0)
        assert items["/History/MaximumCellVoltage"] < 5.5 and items["/History/MaximumTemperature"] == 36.0
        assert items["/History/TotalAhDrawn"] < 0 and items["/History/ChargedEnergy"] == 0.0
        assert items["/History/ChargeCycles"] == 12  # the BMS's count
        assert items["/History/TimeSinceLastFullCharge"] is None  # no full charge seen yet
        kept = history(await h.items())
    finally:
        await h.stop()
    assert (tmp_path / "state" / "history-jk0.json").is_file()

    again, rec2 = harness(private_bus, tmp_path)
    await again.start()
    try:
        first = history(await again.wait_for(lambda it: it.get("/Connected") == 1))
    finally:
        await again.stop()
    assert first["/History/MaximumTemperature"] == 36.0  # 23 °C at most since the restart
    assert first["/History/MinimumTemperature"] == kept["/History/MinimumTemperature"]
    assert first["/History/DischargedEnergy"] >= kept["/History/DischargedEnergy"] > 0
    assert first["/History/TotalAhDrawn"] <= kept["/History/TotalAhDrawn"] < 0
    seen = rec2.extremes()
    for low, high in (("MinimumCellVoltage", "MaximumCellVoltage"), ("MinimumVoltage", "MaximumVoltage")):
        lo, hi = f"/History/{low}", f"/History/{high}"
        assert min(kept[lo], seen[lo]) <= first[lo] <= kept[lo]
        assert kept[hi] <= first[hi] <= max(kept[hi], seen[hi])
