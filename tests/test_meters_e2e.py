"""End to end: the energy meters and a counted SoC survive ``kill -9``. ``dbus-bms run`` counts a simulated
JK charging at a steady current, is killed with SIGKILL at an arbitrary moment and started again, several
times: after each restart the published counters continue from the saved ones, and what a kill lost is
at most what one ``history_interval`` (and one poll) counts at the measured current and power. And the
service's own paths for them, on a private bus."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

from dbus_bms.history import History, full_cycles
from dbus_bms.sim.harness import DaemonHarness
from dbus_bms.soc_counter import SocCount, published
from dbus_bms.victron.reader import get_items

from .victron.test_battery_service import LIVE, SAMPLE, STALE, connect, service

POLL, INTERVAL, AMPS, CAPACITY = 0.2, 1.0, 150.0, 280.0
RESTARTS = 3
# A steady current repeats its cells for many polls; the frozen-data check would take it for a BMS
# that froze.
CONFIG = (f"poll_interval: {POLL}\nhistory_interval: {INTERVAL}\n"
          "charge:\n  stale_after: 2.0\n  frozen_polls: 0\n")
AH, KWH = "/History/TotalAhCharged", "/History/ChargedEnergy"


class CountingHarness(DaemonHarness):
    """One simulated JK, its battery counting its SoC."""

    def config_text(self) -> str:
        return super().config_text() + "    soc_counting: true\n    soc_efficiency: 0.95\n"


def saved(tmp_path: Path) -> tuple[dict[str, Any], float] | None:
    state = tmp_path / "state"
    if not (state / "history-jk0.json").exists():
        return None
    soc = json.loads((state / "soc-jk0.json").read_text())["soc"]
    return json.loads((state / "history-jk0.json").read_text()), soc


def lost_at_most(items: dict[str, Any]) -> tuple[float, float, float]:
    """What one interval and one poll count at the published current and power: Ah, kWh, % of SoC."""
    seconds = INTERVAL + POLL
    ah = items["/Dc/0/Current"] * seconds / 3600.0
    return ah, items["/Dc/0/Power"] * seconds / 3.6e6, ah * 0.95 / CAPACITY * 100.0


async def test_the_meters_and_the_count_lose_at_most_one_interval_to_each_kill(private_bus, tmp_path):
    before: dict[str, Any] | None = None
    for run in range(RESTARTS + 1):
        h = CountingHarness(private_bus, tmp_path, extra_config=CONFIG)
        pack = h.sims[0].pack
        pack.current_override = AMPS
        # Each run's BMS starts 10 % lower: the published SoC must be the count, not the BMS's.
        pack.soc = [s - 10.0 * run for s in pack.soc]
        file = saved(tmp_path)
        await h.start()
        try:
            first = await h.wait_for(lambda it: it.get("/Connected") == 1 and it.get("/Dc/0/Current") == AMPS)
            assert first["/Bms/Soc"] == round(pack.pack_soc) and first["/History/ChargeCycles"] == 12
            assert first["/History/FullCycles"] == 0.0  # nothing taken out yet
            if file is None:
                assert first["/Soc"] == first["/Bms/Soc"]  # nothing saved: the count starts from the BMS
            else:
                history, soc = file
                # Continued from the file, not from 0 or the BMS's SoC...
                assert first[AH] >= round(history["ah_charged"], 1) > 0
                assert first[KWH] >= round(history["charged_energy"], 2) > 0
                assert first["/Soc"] >= round(soc, 1) and abs(first["/Soc"] - first["/Bms/Soc"]) > 5
                # ...and never back by more than the kill may lose (each published value rounded).
                ah, kwh, pct = lost_at_most(before)
                assert first[AH] >= before[AH] - ah - 0.1
                assert first[KWH] >= before[KWH] - kwh - 0.01
                assert first["/Soc"] >= before["/Soc"] - pct - 0.1
            # Four intervals' worth at least, so that the daemon saved while it ran.
            grown = first[AH] + 4 * AMPS * INTERVAL / 3600.0
            before = await h.wait_for(lambda it: it[AH] >= grown)
            h.proc.send_signal(signal.SIGKILL)
            h.proc.wait()
            assert h.proc.returncode == -signal.SIGKILL
        finally:
            await h.stop()
        history, soc = saved(tmp_path)
        ah, kwh, pct = lost_at_most(before)
        assert history["ah_charged"] >= before[AH] - 0.05 - ah
        assert history["charged_energy"] >= before[KWH] - 0.005 - kwh
        assert soc >= before["/Soc"] - 0.05 - pct
        assert history["ah_drawn"] == 0.0 and history["discharged_energy"] == 0.0


async def test_the_service_publishes_the_meters_of_ours_and_the_bms_soc_beside_a_count(private_bus, tmp_path):
    bus, client = await connect(private_bus), await connect(private_bus)
    svc = service(bus, tmp_path)
    await svc.start()
    name = "com.victronenergy.battery.house"
    paths = ("/History/TotalAhCharged", "/History/FullCycles", "/Bms/Soc")
    items = await get_items(client, name)
    assert [items[p] for p in paths] == [None, None, None]
    h = History(ah_drawn=700.04, ah_charged=712.46)
    svc.publish(SAMPLE, LIVE, history=h, cycles=full_cycles(h, SAMPLE.capacity_full))
    items = await get_items(client, name)
    assert [items[p] for p in paths] == [712.5, 2.5, None]  # counting off: no BMS SoC of its own
    assert items["/History/ChargeCycles"] == 3 and items["/Soc"] == 60.0  # the BMS's own
    counted = published(SAMPLE, SocCount(soc=42.25, capacity=280.0))
    svc.publish(counted, LIVE, history=h, bms_soc=SAMPLE.soc)
    items = await get_items(client, name)
    shown = (items["/Soc"], items["/Bms/Soc"], items["/Capacity"], items["/ConsumedAmphours"])
    assert shown == (42.2, 60.0, 118.3, -161.7)
    assert items["/TimeToGo"] == round(118.3 / 10.0 * 3600)
    svc.publish(counted, STALE, history=h, bms_soc=SAMPLE.soc)
    items = await get_items(client, name)
    assert items["/Bms/Soc"] is None and items["/Soc"] is None and items["/History/TotalAhCharged"] == 712.5
    await svc.stop()
    bus.disconnect()
    client.disconnect()
