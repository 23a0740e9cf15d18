"""A BLE BMS that replays a recording, as a peripheral of the fake BlueZ: each write that equals a
request of the recording is answered with the notifications recorded after it, in the recording's
order, starting over after its last step so that a reader can poll again. A write that matches no
request goes unanswered, as a BMS ignores a frame it does not know; ``silent`` makes it ignore all.

A recording is one entry of the recorded-frame files: ``request_hex`` and ``chunks_hex`` for an
update of one request, ``sequence`` (a list of those) for an update of several.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .ble_peripheral import Char, Peripheral, Service

# Notifications in a recording are as long as the BMS made them; the link's MTU must let them pass.
_MIN_MTU = 247


@dataclass(frozen=True)
class Step:
    request: bytes
    notifications: tuple[bytes, ...]


def replay_steps(recording: Mapping[str, Any]) -> tuple[Step, ...]:
    """The request and notifications of each step of one recorded update."""
    steps = recording.get("sequence") or [recording]
    return tuple(
        Step(bytes.fromhex(step["request_hex"]), tuple(bytes.fromhex(c) for c in step.get("chunks_hex") or [] if c))
        for step in steps
        if step.get("request_hex")
    )


def _uuid128(uuid: str) -> str:
    return f"0000{uuid.lower()}-0000-1000-8000-00805f9b34fb" if len(uuid) == 4 else uuid.lower()


class ReplayPeripheral(Peripheral):
    """Replays ``steps`` on ``rx_uuid`` for writes to ``tx_uuid`` (one characteristic when they are
    the same), in a service ``service_uuid``, advertising ``advertised_uuids`` (by default that
    service); 16-bit UUIDs are taken in their Bluetooth base form."""

    def __init__(
        self,
        steps: tuple[Step, ...],
        *,
        address: str,
        name: str,
        service_uuid: str,
        rx_uuid: str,
        tx_uuid: str,
        manufacturer_data: dict[int, bytes] | None = None,
        advertised_uuids: list[str] | None = None,
    ) -> None:
        if not steps:
            raise ValueError("a recording without requests: nothing to replay")
        rx, tx = _uuid128(rx_uuid), _uuid128(tx_uuid)
        both = ["read", "write", "write-without-response", "notify"]
        chars = [Char(rx, both if rx == tx else ["read", "notify"])]
        if tx != rx:
            chars.append(Char(tx, ["write", "write-without-response"]))
        longest = max((len(n) for s in steps for n in s.notifications), default=0)
        super().__init__(
            address=address,
            name=name,
            manufacturer_data=manufacturer_data,
            service_uuids=[_uuid128(u) for u in ([service_uuid] if advertised_uuids is None else advertised_uuids)],
            services=[Service(_uuid128(service_uuid), chars)],
            mtu=max(_MIN_MTU, longest + 3),
        )
        self.steps = steps
        self.rx_uuid = rx
        self.tx_uuid = tx
        self.silent = False
        self.answered = 0
        self._next = 0

    def on_write(self, char_uuid: str, data: bytes, with_response: bool) -> None:
        if char_uuid != self.tx_uuid or self.silent:
            return
        count = len(self.steps)
        for offset in range(count):
            index = (self._next + offset) % count
            if self.steps[index].request == data:
                self._next = (index + 1) % count
                self.answered += 1
                for notification in self.steps[index].notifications:
                    self.notify(self.rx_uuid, notification)
                return
