"""Which device type a BLE advertisement looks like, for ``dbus-bms scan``.

Names are user-settable on most modules, so a pattern rests on what the firmware fixes (the
manufacturer id, the service UUID) and uses the name only as a second hint.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..protocols import jk02


@dataclass(frozen=True)
class AdvertisementPattern:
    type: str
    service_uuid: str | None = None
    manufacturer_id: int | None = None
    name_prefixes: tuple[str, ...] = ()

    def matches(self, name: str | None, service_uuids: Iterable[str], manufacturer_ids: Iterable[int]) -> bool:
        if self.service_uuid is not None and self.service_uuid not in {u.lower() for u in service_uuids}:
            return False
        if self.manufacturer_id is not None and self.manufacturer_id not in set(manufacturer_ids):
            return False
        if self.name_prefixes and not (name and name.startswith(self.name_prefixes)):
            return False
        return True


PATTERNS = (
    # JK's BLE module advertises its manufacturer id with the MAC as data, and service FFE0.
    AdvertisementPattern("jk", service_uuid=jk02.SERVICE_UUID, manufacturer_id=jk02.MANUFACTURER_ID),
    # Some JK modules leave the manufacturer data out; their default name says JK.
    AdvertisementPattern("jk", service_uuid=jk02.SERVICE_UUID, name_prefixes=("JK-", "JK_", "JK")),
)


def guess_type(name: str | None, service_uuids: Iterable[str], manufacturer_ids: Iterable[int]) -> str | None:
    """The config ``type:`` this advertisement most likely belongs to, or None."""
    uuids, ids = list(service_uuids), list(manufacturer_ids)
    for pattern in PATTERNS:
        if pattern.matches(name, uuids, ids):
            return pattern.type
    return None
