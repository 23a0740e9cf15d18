"""A BlueZ pairing agent that answers with a configured PIN.

Some BMS modules only pair with a PIN (often 123456 or 000000). bluetoothd asks the default agent
for it; on a GX there is none, so while we pair we register our own and answer for that one device.
"""

# No ``from __future__ import annotations``: dbus-fast reads D-Bus signatures from the annotations.

import itertools

from bleak.exc import BleakError
from dbus_fast import BusType, Message, MessageType
from dbus_fast.aio import MessageBus
from dbus_fast.service import ServiceInterface, method

_BLUEZ = "org.bluez"
_ids = itertools.count(1)


class _Agent(ServiceInterface):
    def __init__(self, pin: str) -> None:
        super().__init__("org.bluez.Agent1")
        self.pin = pin
        self.asked = 0

    @method()
    def Release(self) -> None:  # noqa: N802 - BlueZ's method names
        return None

    @method()
    def RequestPinCode(self, device: "o") -> "s":  # noqa: F821, N802
        self.asked += 1
        return self.pin

    @method()
    def RequestPasskey(self, device: "o") -> "u":  # noqa: F821, N802
        self.asked += 1
        return int(self.pin)

    @method()
    def DisplayPasskey(self, device: "o", passkey: "u", entered: "q") -> None:  # noqa: F821, N802
        return None

    @method()
    def DisplayPinCode(self, device: "o", pincode: "s") -> None:  # noqa: F821, N802
        return None

    @method()
    def RequestConfirmation(self, device: "o", passkey: "u") -> None:  # noqa: F821, N802
        return None

    @method()
    def RequestAuthorization(self, device: "o") -> None:  # noqa: F821, N802
        return None

    @method()
    def AuthorizeService(self, device: "o", uuid: "s") -> None:  # noqa: F821, N802
        return None

    @method()
    def Cancel(self) -> None:  # noqa: N802
        return None


class PinAgent:
    """Registered for the duration of one pairing: ``await register()``, pair, ``await unregister()``."""

    def __init__(self, pin: str) -> None:
        self.agent = _Agent(pin)
        self.path = f"/dbus_bms/agent{next(_ids)}"
        self._bus: MessageBus | None = None

    async def register(self) -> None:
        bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
        bus.export(self.path, self.agent)
        self._bus = bus
        await self._manager("RegisterAgent", "os", [self.path, "KeyboardDisplay"])
        await self._manager("RequestDefaultAgent", "o", [self.path])

    async def unregister(self) -> None:
        if self._bus is None:
            return
        try:
            await self._manager("UnregisterAgent", "o", [self.path])
        finally:
            self._bus.disconnect()
            self._bus = None

    async def _manager(self, member: str, signature: str, body: list) -> None:
        assert self._bus is not None
        reply = await self._bus.call(
            Message(destination=_BLUEZ, path="/org/bluez", interface="org.bluez.AgentManager1", member=member,
                    signature=signature, body=body)
        )
        if reply.message_type == MessageType.ERROR:
            raise BleakError(f"BlueZ refused {member} for the pairing agent: {reply.error_name} {reply.body}")
