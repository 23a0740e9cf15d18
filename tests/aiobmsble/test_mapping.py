"""aiobmsble's result dict onto our Sample: units, sign and kinds per field, and the reading judge
refusing what no BMS can measure."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("aiobmsble", reason="aiobmsble is not installed here (it needs Python 3.12): ./dev.sh test runs "
                    "tests/aiobmsble in .venv312")

from aiobmsble import TempSensor  # noqa: E402

from dbus_bms.devices.aiobmsble_adapter import PROBLEM, to_sample  # noqa: E402
from dbus_bms.devices.base import DeviceError  # noqa: E402
from dbus_bms.devices.plausibility import IMPLAUSIBLE, ReadingJudge  # noqa: E402

GOOD = {"voltage": 13.2, "current": -4.5, "battery_level": 80, "cycle_charge": 80.0, "design_capacity": 100,
        "cycles": 12, "cell_voltages": [3.3, 3.3, 3.3, 3.3],
        "temp_values": [TempSensor(21.5, TempSensor.T.CELL), TempSensor(30.0, TempSensor.T.MOSFET), 22.0],
        "chrg_mosfet": True, "dischrg_mosfet": False, "balancer": 0b0100, "problem": False, "problem_code": 0}


def test_each_field_lands_in_its_own_with_its_unit_and_sign():
    s = to_sample(GOOD)
    assert (s.voltage, s.current, s.power, s.soc) == (13.2, -4.5, round(13.2 * -4.5, 3), 80.0)
    assert (s.capacity_remaining, s.capacity_full, s.cycles) == (80.0, 100.0, 12)
    assert s.cell_voltages == [3.3] * 4
    assert s.temperatures == [21.5, 22.0] and s.mosfet_temperature == 30.0
    assert (s.charge_enabled, s.discharge_enabled, s.balancing) == (True, False, True)
    assert s.alarms == {} and s.conditions == ()
    assert ReadingJudge().judge(s) is None


def test_a_problem_code_is_a_warning_and_a_condition_and_the_flag_alone_a_condition():
    s = to_sample({**GOOD, "problem": True, "problem_code": 0x21})
    assert s.alarms == {"InternalFailure": 1} and s.conditions == ("problem code 0x21",)
    s = to_sample({**GOOD, "problem": True, "problem_code": 0})
    assert s.alarms == {} and s.conditions == (PROBLEM,)
    assert to_sample({"voltage": 13.2}).conditions is None


@pytest.mark.parametrize("change", [{"voltage": math.nan}, {"cell_voltages": [3.3, 3.3, 3.3, 9.0]},
                                    {"temp_values": [TempSensor(400.0)]}, {"battery_level": 250}])
def test_what_no_bms_can_measure_is_refused_by_the_judge(change):
    verdict = ReadingJudge().judge(to_sample({**GOOD, **change}))
    assert verdict is not None and verdict.kind == IMPLAUSIBLE


@pytest.mark.parametrize("change", [{"voltage": "13.2"}, {"current": True}, {"cell_voltages": "3.3"},
                                    {"temp_values": ["warm"]}, {"cycles": math.inf}, {"chrg_mosfet": "on"},
                                    {"problem_code": "E1"}])
def test_a_value_of_the_wrong_kind_fails_the_poll_with_its_name(change):
    with pytest.raises(DeviceError, match=next(iter(change)) if "temp" not in next(iter(change)) else "temperature"):
        to_sample({**GOOD, **change})
