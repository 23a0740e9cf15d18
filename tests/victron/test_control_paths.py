"""What the control paths show for a reading: the BMS's switch, else its FET, else invalid."""

from __future__ import annotations

from dbus_bms.model import Sample
from dbus_bms.victron import control_paths


def test_the_paths_show_the_switches_with_1_for_off():
    sample = Sample(charge_enabled=False, switches={"charge": True, "discharge": False, "balance": False})
    # The switch wins over the FET: a BMS protecting its cells opens the FET of a switch that is on.
    assert control_paths.values(sample) == {
        "/Settings/ForceChargingOff": 0, "/Settings/ForceDischargingOff": 1, "/Settings/TurnBalancingOff": 1,
    }


def test_without_switches_the_fets_show_and_an_unknown_balancer_is_invalid():
    sample = Sample(charge_enabled=True, discharge_enabled=False)
    assert control_paths.values(sample) == {
        "/Settings/ForceChargingOff": 0, "/Settings/ForceDischargingOff": 1, "/Settings/TurnBalancingOff": None,
    }
    assert set(control_paths.values(None).values()) == {None}
