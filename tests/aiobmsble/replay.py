"""The recorded updates of aiobmsble's own tests, and a replaying peripheral for one of them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dbus_bms.model import Sample
from dbus_bms.sim.aiobmsble_replay import ReplayPeripheral, replay_steps

# aiobmsble needs Python 3.12; the main venv (3.11) has none, `./dev.sh test` runs these in .venv312.
pytest.importorskip("aiobmsble", reason="aiobmsble is not installed here (it needs Python 3.12): ./dev.sh test runs "
                    "tests/aiobmsble in .venv312")

from dbus_bms.devices.aiobmsble_adapter import bms_class  # noqa: E402

RECORDED = json.loads((Path(__file__).parent / "recorded_frames.json").read_text())["frames"]
ADDRESS = "C0:FF:EE:00:00:01"


def recordings(judged: str) -> list[Any]:
    return [pytest.param(r, id=r["id"].removeprefix("aiobmsble-")) for r in RECORDED if r["judged"] == judged]


def replaying(recording: dict, *, address: str = ADDRESS, name: str = "BMS",
              advertised: list[str] | None = None) -> ReplayPeripheral:
    """A peripheral with the GATT table ``recording``'s aiobmsble module asks for, replaying it."""
    cls = bms_class(recording["module"])
    return ReplayPeripheral(replay_steps(recording), address=address, name=name,
                            service_uuid=cls.uuid_services()[0], rx_uuid=cls.uuid_rx(), tx_uuid=cls.uuid_tx(),
                            advertised_uuids=advertised)


def as_aiobmsble(sample: Sample) -> dict[str, Any]:
    """The values of ``sample`` under aiobmsble's keys, for the keys ``sample`` has a field for."""
    temps = [*(sample.temperatures or []), *([sample.mosfet_temperature] if sample.mosfet_temperature is not None else [])]
    return {
        "voltage": sample.voltage, "current": sample.current, "power": sample.power, "battery_level": sample.soc,
        "battery_health": sample.soh, "cycle_charge": sample.capacity_remaining,
        "design_capacity": sample.capacity_full, "cycles": sample.cycles, "cell_voltages": sample.cell_voltages,
        "temp_values": sorted(temps) or None, "chrg_mosfet": sample.charge_enabled,
        "dischrg_mosfet": sample.discharge_enabled, "balancer": sample.balancing,
        "problem": bool(sample.conditions),
        "problem_code": sample.conditions[0] if "InternalFailure" in sample.alarms and sample.conditions else None,
    }


def stated(expected: dict[str, Any]) -> dict[str, Any]:
    """What the recording states for each of those keys (None where it states nothing), in the same
    shape: temperatures sorted, a balancer bit mask as a flag, no cells as None, a problem code as
    its condition."""
    out = {k: expected.get(k) for k in as_aiobmsble(Sample())}
    out["temp_values"] = sorted(expected["temp_values"]) if expected.get("temp_values") else None
    out["cell_voltages"] = expected.get("cell_voltages") or None
    out["balancer"] = None if expected.get("balancer") is None else bool(expected["balancer"])
    out["problem"] = bool(expected.get("problem") or expected.get("problem_code"))
    out["problem_code"] = f"problem code 0x{expected['problem_code']:X}" if expected.get("problem_code") else None
    return out
