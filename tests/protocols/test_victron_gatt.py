"""SmartShunt GATT codec on values built by hand from the published GATT description (no capture of
a real shunt exists): scales, signs, n/a, wrong lengths, a missing value, the keep-alive; and a
fuzz of arbitrary bytes, which decode or raise ProtocolError and nothing else."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dbus_bms.protocols import victron_gatt as gatt
from dbus_bms.protocols.errors import ProtocolError

EXAMPLES = 400 if os.environ.get("DBUS_BMS_THOROUGH") else 60

VOLTAGE, CURRENT, POWER, SOC, CONSUMED = gatt.VALUE_UUIDS
UUID_OF = {v.name: v.uuid for v in gatt.VALUES}


def values(**raw: bytes) -> dict[str, bytes]:
    """A full set: 53.12 V, 12.345 A charging, 656 W, 87.65 %, -36.4 Ah; ``raw`` replaces some."""
    base = {
        VOLTAGE: (5312).to_bytes(2, "little", signed=True),
        CURRENT: (12345).to_bytes(4, "little", signed=True),
        POWER: (656).to_bytes(2, "little", signed=True),
        SOC: (8765).to_bytes(2, "little"),
        CONSUMED: (-364).to_bytes(4, "little", signed=True),
    }
    return base | {UUID_OF[name]: data for name, data in raw.items()}


def test_the_uuids_are_the_shunts():
    assert gatt.SERVICE_UUID == "65970000-4bda-4c1e-af4b-551c4cf74769"
    assert gatt.VALUE_UUIDS == (
        "6597ed8d-4bda-4c1e-af4b-551c4cf74769", "6597ed8c-4bda-4c1e-af4b-551c4cf74769",
        "6597ed8e-4bda-4c1e-af4b-551c4cf74769", "65970fff-4bda-4c1e-af4b-551c4cf74769",
        "6597eeff-4bda-4c1e-af4b-551c4cf74769",
    )
    assert gatt.KEEP_ALIVE_UUID == "6597ffff-4bda-4c1e-af4b-551c4cf74769"


def test_a_full_set_decodes_in_victrons_units_and_sign():
    s = gatt.decode(values())
    assert (s.voltage, s.current, s.power, s.soc, s.consumed_ah) == (53.12, 12.345, 656.0, 87.65, -36.4)
    assert s.cell_voltages is None and s.capacity_full is None


def test_negative_values_are_signed_little_endian():
    s = gatt.decode(values(current=bytes.fromhex("c7cfffff"), power=bytes.fromhex("18fc")))
    assert s.current == -12.345 and s.power == -1000.0


@pytest.mark.parametrize("name, raw", [
    ("voltage", b"\xff\x7f"), ("current", b"\xff\xff\xff\x7f"), ("soc", b"\xff\xff"),
    ("consumed_ah", b"\xff\xff\xff\x7f"),
])
def test_a_value_the_shunt_does_not_have_is_none(name, raw):
    s = gatt.decode(values(**{name: raw}))
    assert getattr(s, name) is None
    assert {n for n in ("voltage", "current", "power", "soc", "consumed_ah") if getattr(s, n) is None} == {name}


def test_a_power_the_shunt_does_not_have_is_voltage_times_current():
    s = gatt.decode(values(power=b"\xff\x7f"))
    assert s.power == pytest.approx(53.12 * 12.345)


@pytest.mark.parametrize("name, raw", [("voltage", b"\x01"), ("current", b"\x01\x02"), ("soc", b"\x01\x02\x03"),
                                       ("consumed_ah", b""), ("power", b"\x00\x00\x00\x00")])
def test_a_wrong_length_is_a_protocol_error_naming_the_value(name, raw):
    with pytest.raises(ProtocolError, match=f"{name} .*{len(raw)} bytes"):
        gatt.decode(values(**{name: raw}))


def test_a_missing_value_is_a_protocol_error():
    partial = values()
    del partial[SOC]
    with pytest.raises(ProtocolError, match="soc .* was not read"):
        gatt.decode(partial)


def test_encode_is_decodes_inverse():
    for value, reading in zip(gatt.VALUES, (51.07, -3.2, -163.0, 100.0, 0.0)):
        assert gatt.decode_value(value, gatt.encode_value(value, reading)) == reading
        assert gatt.decode_value(value, gatt.encode_value(value, None)) is None


def test_the_keep_alive_is_its_milliseconds_little_endian():
    assert gatt.build_keep_alive(60_000) == bytes.fromhex("60ea")
    assert gatt.build_keep_alive(gatt.KEEP_ALIVE_FOREVER) == b"\xff\xff"
    for ms in (0, 0x10000):
        with pytest.raises(ValueError):
            gatt.build_keep_alive(ms)


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.lists(st.binary(max_size=6), min_size=5, max_size=5))
def test_arbitrary_bytes_decode_or_raise_protocol_error(raws):
    try:
        sample = gatt.decode(dict(zip(gatt.VALUE_UUIDS, raws)))
    except ProtocolError:
        assert any(len(r) != v.size for r, v in zip(raws, gatt.VALUES))
        return
    assert sample.soc is None or 0 <= sample.soc <= 655.35
