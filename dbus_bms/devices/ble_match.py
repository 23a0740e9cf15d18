"""Which device type a BLE advertisement looks like, for ``dbus-bms scan``.

Names are user-settable on most modules, so a pattern rests on what the firmware fixes (the
service UUID, the manufacturer id or the start of the manufacturer data) and uses the name only
where that alone is shared with another family: JK and ANT both advertise FFE0, JBD and Seplos v2
both FF00. The first pattern that matches wins, so the narrower ones come first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..protocols import ant, cbtpwr, cbtpwr_vb, daly, jbd, jk02, neey, seplos, sok, supervolt, victron_gatt

# CBT Power modules that leave out their FFE5 service advertise service 03C1 and this manufacturer id.
CBTPWR_ALT_SERVICE_UUID = "000003c1-0000-1000-8000-00805f9b34fb"
CBTPWR_MANUFACTURER_ID = 0x5352

# Daly's BLE modules (the classic A5 one and the newer Modbus one alike) bridge on service FFF0,
# but several advertise no service at all, only manufacturer data under one of these ids.
DALY_MANUFACTURER_IDS = (0x0102, 0x0104, 0x0302, 0x0303, 0x0402)


@dataclass(frozen=True)
class AdvertisementPattern:
    """``type`` when every given part matches: the service among those advertised, one of the
    manufacturer ids, manufacturer data (under any id) starting with ``data_prefix``, the name
    matching the regular expression ``name`` from its start."""

    type: str
    service_uuid: str | None = None
    manufacturer_ids: tuple[int, ...] = ()
    data_prefix: bytes | None = None
    name: str | None = None

    def matches(self, name: str | None, service_uuids: Iterable[str], manufacturer_data: Mapping[int, bytes]) -> bool:
        if self.service_uuid is not None and self.service_uuid not in {u.lower() for u in service_uuids}:
            return False
        if self.manufacturer_ids and not set(self.manufacturer_ids) & set(manufacturer_data):
            return False
        if self.data_prefix is not None and not any(
            bytes(data).startswith(self.data_prefix) for data in manufacturer_data.values()
        ):
            return False
        if self.name is not None and not (name and re.match(self.name, name)):
            return False
        return True


PATTERNS = (
    # JK's module advertises its manufacturer id with the MAC as data.
    AdvertisementPattern("jk", service_uuid=jk02.SERVICE_UUID, manufacturer_ids=(jk02.MANUFACTURER_ID,)),
    # ANT's puts 88 A0 and its MAC in the manufacturer data, under an id that varies.
    AdvertisementPattern("ant-ble", service_uuid=ant.BLE_SERVICE_UUID, data_prefix=ant.BLE_DATA_PREFIX),
    # Modules that leave the manufacturer data out: their default names tell the two apart.
    AdvertisementPattern("ant-ble", service_uuid=ant.BLE_SERVICE_UUID, name=r"ANT[-@]BLE"),
    AdvertisementPattern("jk", service_uuid=jk02.SERVICE_UUID, name=r"JK"),
    # The NEEY / Heltec balancer shares FFE0 too; its name is its model (GW-24S4EB, EK-B24S8E200A).
    AdvertisementPattern("neey-ble", service_uuid=neey.SERVICE_UUID, name=r"(GW|EK)-"),
    # Seplos v2's module shares JBD's FF00; it is named BP and two digits.
    AdvertisementPattern("seplos-ble", service_uuid=seplos.BLE_SERVICE_UUID, name=r"BP[0-2][0-9]$"),
    AdvertisementPattern("jbd-ble", service_uuid=jbd.BLE_SERVICE_UUID),
    AdvertisementPattern("cbtpwr-ble", service_uuid=cbtpwr.BLE_WRITE_SERVICE_UUID),
    AdvertisementPattern("cbtpwr-ble", service_uuid=CBTPWR_ALT_SERVICE_UUID, manufacturer_ids=(CBTPWR_MANUFACTURER_ID,)),
    # SOK's module (ABC-BMS) shares Daly's FFF0; its names start SOK-, ABC- or NB-, or are Hoover.
    AdvertisementPattern("sok-ble", service_uuid=sok.BLE_ADVERTISED_UUID, name=r"(SOK-|ABC-|NB-|Hoover)"),
    # Creabest's VB series shares FFF0 as well: VB and nine characters.
    AdvertisementPattern("cbtpwr-vb-ble", service_uuid=cbtpwr_vb.BLE_ADVERTISED_UUID, name=r"VB.{9}$"),
    AdvertisementPattern("daly-ble", service_uuid=daly.BLE_SERVICE_UUID, name=r"DL-"),
    # The older Supervolt's module is a plain Nordic UART one, named libatt.
    AdvertisementPattern("supervolt-ble", service_uuid=supervolt.BLE_SERVICE_UUID, name=r"libatt"),
    AdvertisementPattern("daly-ble", manufacturer_ids=DALY_MANUFACTURER_IDS),
    # A SmartShunt with Bluetooth GATT on may advertise its GATT service; any Victron device, its company id.
    AdvertisementPattern("smartshunt-ble", service_uuid=victron_gatt.SERVICE_UUID),
    AdvertisementPattern("smartshunt-ble", manufacturer_ids=(victron_gatt.MANUFACTURER_ID,)),
)


def guess_type(
    name: str | None, service_uuids: Iterable[str], manufacturer_data: Mapping[int, bytes]
) -> str | None:
    """The config ``type:`` this advertisement most likely belongs to, or None."""
    uuids = list(service_uuids)
    for pattern in PATTERNS:
        if pattern.matches(name, uuids, manufacturer_data):
            return pattern.type
    return None
