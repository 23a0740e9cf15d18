"""A fake BlueZ: ``org.bluez`` on a private bus, so the real, unmodified bleak can scan, connect,
write and take notifications from simulated peripherals.

It answers every call from one message handler over a table of objects (path → interface →
properties), the way bluetoothd lays them out, because bleak parses the layout, not just uses it:
GATT handles come from the last four hex digits of a path, and the device of a notification is
found by cutting ``/serviceXXXX/charXXXX`` off the characteristic path. What bleak depends on is
reproduced on purpose:

* discovery keeps advertising (an RSSI change every tick): bleak reports a device only on an
  advertisement event while it scans, and its find helpers start listening after StartDiscovery;
* one discovery session per D-Bus sender, ``org.bluez.Error.InProgress`` for a second;
* on connect, the GATT objects exist before ``ServicesResolved`` turns true;
* every disconnect, by host or device, ends with ``Connected`` false (bleak's disconnect waits
  for it);
* writes reach the peripheral in order; a read also updates ``Value``, as bluetoothd does;
* a characteristic flagged ``encrypt-authenticated-read`` (``-write``) refuses a device that is not
  paired as bluetoothd words the device's ATT error 0x05 (insufficient authentication).

Two hangs can be switched on at run time: a peripheral whose Connect is never answered
(``Peripheral.connect_hangs``), and a bluetoothd that stops answering altogether (``hang`` /
``resume``): its name stays on the bus, but every call waits and nothing is signalled until it
resumes, then it works through what queued up, in order, as a daemon that was stuck does.
``hang(only=...)`` holds just the calls to some methods, to stop a client at one exact step.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Collection
from typing import Any

from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from ..victron.connection import connect
from .ble_peripheral import GattError, Peripheral

BLUEZ = "org.bluez"
OBJECT_MANAGER = "org.freedesktop.DBus.ObjectManager"
PROPERTIES = "org.freedesktop.DBus.Properties"
ADAPTER = "org.bluez.Adapter1"
DEVICE = "org.bluez.Device1"
SERVICE = "org.bluez.GattService1"
CHARACTERISTIC = "org.bluez.GattCharacteristic1"
DESCRIPTOR = "org.bluez.GattDescriptor1"
AGENT_MANAGER = "org.bluez.AgentManager1"
CCCD_UUID = "00002902-0000-1000-8000-00805f9b34fb"
# bluetoothd numbers the first GATT attribute after its own services at about this handle.
FIRST_HANDLE = 0x000C

Props = dict[str, Variant]


def _att_failure(exc: GattError) -> str:
    """bluetoothd's text for a GATT request the device refused."""
    return f"Operation failed with ATT error: 0x{exc.code:02x}"


def _device_path(adapter: str, address: str) -> str:
    return f"/org/bluez/{adapter}/dev_{address.replace(':', '_')}"


class _Link:
    """A peripheral as BlueZ knows it: its object path, and its GATT objects while connected."""

    def __init__(self, peripheral: Peripheral, adapter: str) -> None:
        self.peripheral = peripheral
        self.adapter = adapter
        self.path = _device_path(adapter, peripheral.address)
        self.exported = False
        self.connected = False
        self.generation = 0  # bumped at every disconnect, so a slow connect can tell it was cut
        self.gatt: list[str] = []  # GATT object paths, in export order
        self.chars: dict[str, str] = {}  # characteristic path → uuid
        self.writes: asyncio.Queue | None = None
        self.writer: asyncio.Task | None = None
        self.held_connects: list[Message] = []  # Connects the peripheral's connect_hangs holds


class FakeBlueZ:
    """Serves ``org.bluez`` on ``bus_address``; add peripherals with ``add_peripheral``."""

    def __init__(self, bus_address: str, adapters: tuple[str, ...] = ("hci0",), adv_interval: float = 0.05) -> None:
        self.bus_address = bus_address
        self.adapter_names = adapters
        self.adv_interval = adv_interval
        self.objects: dict[str, dict[str, Props]] = {}
        self.links: dict[str, _Link] = {}  # by device path
        self.discovering: dict[str, set[str]] = {name: set() for name in adapters}  # adapter → senders
        self.agents: dict[str, tuple[str, str]] = {}  # agent path → (sender, path)
        self.default_agent: tuple[str, str] | None = None
        self._bus: MessageBus | None = None
        self._tasks: set[asyncio.Task] = set()
        self._advertiser: asyncio.Task | None = None
        self._rng = random.Random(0)
        # While hung: the calls (and bus signals) that came in, and what we would have sent.
        self._held_in: list[Message] | None = None
        self._held_out: list[Message] = []
        self._hang_only: frozenset[str] | None = None  # the methods that hang; None: everything
        self._handlers: dict[tuple[str, str], Callable[[Message], Message | bool]] = {
            (ADAPTER, "StartDiscovery"): self._start_discovery,
            (ADAPTER, "StopDiscovery"): self._stop_discovery,
            (ADAPTER, "SetDiscoveryFilter"): lambda m: Message.new_method_return(m),
            (ADAPTER, "GetDiscoveryFilters"): lambda m: Message.new_method_return(m, "as", [["UUIDs", "RSSI", "Transport"]]),
            (ADAPTER, "RemoveDevice"): self._remove_device_call,
            (DEVICE, "Connect"): self._connect,
            (DEVICE, "Disconnect"): self._disconnect_call,
            (DEVICE, "Pair"): self._pair,
            (DEVICE, "CancelPairing"): lambda m: Message.new_method_return(m),
            (CHARACTERISTIC, "StartNotify"): lambda m: self._notifying(m, True),
            (CHARACTERISTIC, "StopNotify"): lambda m: self._notifying(m, False),
            (CHARACTERISTIC, "ReadValue"): self._read,
            (CHARACTERISTIC, "WriteValue"): self._write,
            (DESCRIPTOR, "ReadValue"): lambda m: Message.new_method_return(m, "ay", [b"\x00\x00"]),
            (AGENT_MANAGER, "RegisterAgent"): self._register_agent,
            (AGENT_MANAGER, "UnregisterAgent"): self._unregister_agent,
            (AGENT_MANAGER, "RequestDefaultAgent"): self._default_agent,
        }

    async def __aenter__(self) -> FakeBlueZ:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        self._bus = await connect(self.bus_address)
        self._bus.add_message_handler(self._handle)
        await self._bus.request_name(BLUEZ)
        await self._call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "AddMatch", "s",
                         ["type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged'"])
        self._add_object("/org/bluez", {AGENT_MANAGER: {}})
        for i, name in enumerate(self.adapter_names):
            address = f"00:1A:7D:DA:71:{i:02X}"
            self._add_object(f"/org/bluez/{name}", {ADAPTER: {
                "Address": Variant("s", address), "AddressType": Variant("s", "public"),
                "Name": Variant("s", f"fake-{name}"), "Alias": Variant("s", f"fake-{name}"),
                "Powered": Variant("b", True), "Discoverable": Variant("b", False),
                "Pairable": Variant("b", True), "Discovering": Variant("b", False),
                "Roles": Variant("as", ["central", "peripheral"]), "UUIDs": Variant("as", []),
            }})
        self._advertiser = asyncio.get_running_loop().create_task(self._advertise())

    async def stop(self) -> None:
        """Ends every link and removes every object before leaving the bus, so a bleak that stays
        (its manager lives as long as its event loop) is not left with stale devices."""
        if self._bus is None:
            return
        self._held_in = None  # calls a hung daemon never answered stay unanswered
        self._flush()
        if self._advertiser is not None:
            self._advertiser.cancel()
        for link in list(self.links.values()):
            self._disconnect(link)
            self._remove_device(link)
        for path in sorted(self.objects, reverse=True):
            self._remove_object(path)
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await self._call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus.Peer", "Ping")
        self._bus.disconnect()
        self._bus = None

    # Peripherals ------------------------------------------------------------------------------

    def add_peripheral(self, peripheral: Peripheral, adapter: str = "hci0") -> None:
        link = _Link(peripheral, adapter)
        self.links[link.path] = link
        peripheral.host = self

    def remove_peripheral(self, peripheral: Peripheral) -> None:
        link = self._link_of(peripheral)
        self._disconnect(link)
        self._remove_device(link)
        del self.links[link.path]
        peripheral.host = None

    def device_properties(self, peripheral: Peripheral) -> dict[str, Any]:
        """What BlueZ shows of the peripheral's Device1 object (empty before it advertised)."""
        props = self.objects.get(self._link_of(peripheral).path, {}).get(DEVICE, {})
        return {name: v.value for name, v in props.items()}

    def is_connected(self, peripheral: Peripheral) -> bool:
        return self._link_of(peripheral).connected

    def notify(self, peripheral: Peripheral, char_uuid: str, data: bytes) -> bool:
        link = self._link_of(peripheral)
        if not link.connected:
            return False
        for path, uuid in link.chars.items():
            props = self.objects[path][CHARACTERISTIC]
            if uuid == char_uuid and props["Notifying"].value:
                self._set(path, CHARACTERISTIC, {"Value": Variant("ay", data)})
                return True
        return False

    def drop(self, peripheral: Peripheral) -> None:
        self._disconnect(self._link_of(peripheral))

    def release_connects(self, peripheral: Peripheral) -> None:
        """The peripheral answers connection requests again: the held Connects go ahead."""
        link = self._link_of(peripheral)
        held, link.held_connects = link.held_connects, []
        for msg in held:
            self._spawn(self._connecting(msg, link))

    @property
    def hung(self) -> bool:
        """Whether bluetoothd as a whole has stopped answering (``hang()`` without ``only``)."""
        return self._held_in is not None and self._hang_only is None

    def hang(self, only: Collection[str] | None = None) -> None:
        """bluetoothd stops answering: every call to org.bluez waits, no signal is sent (no
        advertisement, notification or link change reaches a client) until ``resume``. With
        ``only`` (method names such as ``StartNotify``), just the calls to those methods wait."""
        if self._held_in is None:
            self._held_in = []
        self._hang_only = None if only is None else frozenset(only)

    def held(self) -> list[str]:
        """The methods of the calls waiting for an answer, oldest first (``hang``, ``connect_hangs``)."""
        waiting = [m.member or "" for m in self._held_in or [] if m.message_type == MessageType.METHOD_CALL]
        return waiting + [m.member or "" for link in self.links.values() for m in link.held_connects]

    def resume(self) -> None:
        """bluetoothd catches up: what it would have sent goes out, then the calls that waited
        are answered in the order they came, late replies to callers that gave up included."""
        held, self._held_in = self._held_in or [], None
        self._hang_only = None
        self._flush()
        for msg in held:
            answer = self._answer(msg)
            if isinstance(answer, Message):
                self._send(answer)

    def _link_of(self, peripheral: Peripheral) -> _Link:
        for link in self.links.values():
            if link.peripheral is peripheral:
                return link
        raise KeyError(peripheral.address)

    # Objects and signals ---------------------------------------------------------------------

    def _emit(self, path: str, interface: str, member: str, signature: str, body: list[Any]) -> None:
        self._send(Message.new_signal(path, interface, member, signature, body))

    def _send(self, message: Message) -> None:
        if self.hung:
            self._held_out.append(message)
        elif self._bus is not None:
            self._bus.send(message)

    def _flush(self) -> None:
        out, self._held_out = self._held_out, []
        if self._bus is not None:
            for message in out:
                self._bus.send(message)

    def _add_object(self, path: str, interfaces: dict[str, Props]) -> None:
        self.objects[path] = interfaces
        self._emit("/", OBJECT_MANAGER, "InterfacesAdded", "oa{sa{sv}}", [path, interfaces])

    def _remove_object(self, path: str) -> None:
        interfaces = self.objects.pop(path, None)
        if interfaces is not None:
            self._emit("/", OBJECT_MANAGER, "InterfacesRemoved", "oas", [path, list(interfaces)])

    def _set(self, path: str, interface: str, changes: Props) -> None:
        self.objects[path][interface].update(changes)
        self._emit(path, PROPERTIES, "PropertiesChanged", "sa{sv}as", [interface, changes, []])

    def _advertisement(self, p: Peripheral) -> Props:
        ad: Props = {
            "RSSI": Variant("n", p.rssi + self._rng.randint(-3, 3)),
            "UUIDs": Variant("as", list(p.service_uuids)),
            "ManufacturerData": Variant("a{qv}", {k: Variant("ay", v) for k, v in p.manufacturer_data.items()}),
            "ServiceData": Variant("a{sv}", {k: Variant("ay", v) for k, v in p.service_data.items()}),
        }
        if p.name is not None:
            ad["Name"] = Variant("s", p.name)
        return ad

    def _export_device(self, link: _Link) -> None:
        p = link.peripheral
        props: Props = {
            "Address": Variant("s", p.address), "AddressType": Variant("s", "public"),
            "Alias": Variant("s", p.name or p.address.replace(":", "-")),
            "Adapter": Variant("o", f"/org/bluez/{link.adapter}"),
            "Paired": Variant("b", False), "Bonded": Variant("b", False), "Trusted": Variant("b", False),
            "Blocked": Variant("b", False), "LegacyPairing": Variant("b", False),
            "Connected": Variant("b", False), "ServicesResolved": Variant("b", False),
            **self._advertisement(p),
        }
        self._add_object(link.path, {DEVICE: props})
        link.exported = True

    def _remove_device(self, link: _Link) -> None:
        if link.exported:
            self._remove_object(link.path)
            link.exported = False

    async def _advertise(self) -> None:
        while True:
            for link in list(self.links.values()):
                p = link.peripheral
                if self.hung or not self.discovering.get(link.adapter) or not p.advertising or link.connected:
                    continue
                if not link.exported:
                    self._export_device(link)
                else:
                    self._set(link.path, DEVICE, self._advertisement(p))
            await asyncio.sleep(self.adv_interval)

    # Method calls ----------------------------------------------------------------------------

    def _handle(self, msg: Message) -> Message | bool | None:
        if self._held_in is not None and self._hangs(msg):
            self._held_in.append(msg)
            return True
        return self._answer(msg)

    def _hangs(self, msg: Message) -> bool:
        if msg.message_type == MessageType.METHOD_CALL:
            return self._hang_only is None or msg.member in self._hang_only
        # The bus's news of clients leaving is dealt with in its turn, after the calls before it.
        return self.hung and msg.message_type == MessageType.SIGNAL and msg.member == "NameOwnerChanged"

    def _answer(self, msg: Message) -> Message | bool | None:
        if msg.message_type == MessageType.SIGNAL:
            if msg.member == "NameOwnerChanged" and msg.body[2] == "":
                self._forget_sender(msg.body[0])
            return None
        if msg.message_type != MessageType.METHOD_CALL:
            return None
        try:
            return self._dispatch(msg)
        except _Reply as reply:
            return reply.message(msg)

    def _dispatch(self, msg: Message) -> Message | bool | None:
        iface, member, path = msg.interface, msg.member, msg.path or ""
        if iface == OBJECT_MANAGER and member == "GetManagedObjects" and path == "/":
            return Message.new_method_return(msg, "a{oa{sa{sv}}}", [self.objects])
        if iface == PROPERTIES:
            return self._properties(msg)
        if path not in self.objects or iface not in self.objects[path]:
            return None
        handler = self._handlers.get((iface, member))
        if handler is None:
            raise _Reply("org.freedesktop.DBus.Error.UnknownMethod", f"{iface}.{member} is not simulated")
        return handler(msg)

    def _properties(self, msg: Message) -> Message:
        interfaces = self.objects.get(msg.path or "")
        if interfaces is None or msg.body[0] not in interfaces:
            raise _Reply("org.freedesktop.DBus.Error.UnknownInterface", f"no {msg.body[0]} at {msg.path}")
        props = interfaces[msg.body[0]]
        if msg.member == "GetAll":
            return Message.new_method_return(msg, "a{sv}", [props])
        if msg.member == "Get":
            if msg.body[1] not in props:
                raise _Reply("org.freedesktop.DBus.Error.UnknownProperty", msg.body[1])
            return Message.new_method_return(msg, "v", [props[msg.body[1]]])
        if msg.member == "Set":
            self._set(msg.path or "", msg.body[0], {msg.body[1]: msg.body[2]})
            return Message.new_method_return(msg)
        raise _Reply("org.freedesktop.DBus.Error.UnknownMethod", msg.member or "")

    def _adapter_name(self, msg: Message) -> str:
        return (msg.path or "").rsplit("/", 1)[-1]

    def _start_discovery(self, msg: Message) -> Message:
        sessions = self.discovering[self._adapter_name(msg)]
        if msg.sender in sessions:
            raise _Reply("org.bluez.Error.InProgress", "Operation already in progress")
        sessions.add(msg.sender)
        if len(sessions) == 1:
            self._set(msg.path or "", ADAPTER, {"Discovering": Variant("b", True)})
        return Message.new_method_return(msg)

    def _stop_discovery(self, msg: Message) -> Message:
        sessions = self.discovering[self._adapter_name(msg)]
        if msg.sender not in sessions:
            raise _Reply("org.bluez.Error.Failed", "No discovery started")
        sessions.discard(msg.sender)
        if not sessions:
            self._set(msg.path or "", ADAPTER, {"Discovering": Variant("b", False)})
        return Message.new_method_return(msg)

    def _forget_sender(self, sender: str) -> None:
        for adapter, sessions in self.discovering.items():
            if sender in sessions:
                sessions.discard(sender)
                if not sessions:
                    self._set(f"/org/bluez/{adapter}", ADAPTER, {"Discovering": Variant("b", False)})
        for path, (owner, _) in list(self.agents.items()):
            if owner == sender:
                del self.agents[path]

    def _remove_device_call(self, msg: Message) -> Message:
        link = self.links.get(msg.body[0])
        if link is None or not link.exported:
            raise _Reply("org.bluez.Error.DoesNotExist", "Does Not Exist")
        self._disconnect(link)
        self._remove_device(link)
        return Message.new_method_return(msg)

    # Links -----------------------------------------------------------------------------------

    def _connect(self, msg: Message) -> bool:
        link = self.links[msg.path or ""]
        if link.peripheral.connect_hangs:
            link.held_connects.append(msg)
        else:
            self._spawn(self._connecting(msg, link))
        return True

    async def _connecting(self, msg: Message, link: _Link) -> None:
        p = link.peripheral
        if p.connect_delay:
            await asyncio.sleep(p.connect_delay)
        if link.connected:
            self._send(Message.new_method_return(msg))
            return
        if not p.connectable:
            self._send(Message.new_error(msg, "org.bluez.Error.Failed", "Software caused connection abort"))
            return
        generation = link.generation
        link.connected = True
        link.writes = asyncio.Queue()
        link.writer = self._spawn(self._write_worker(link))
        self._set(link.path, DEVICE, {"Connected": Variant("b", True)})
        p.on_connect()
        if p.resolve_delay:
            self._send(Message.new_method_return(msg))  # Connect returns before services resolve
            await asyncio.sleep(p.resolve_delay)
            if link.generation != generation:
                return
        self._export_gatt(link)
        self._set(link.path, DEVICE, {"ServicesResolved": Variant("b", True)})
        if not p.resolve_delay:
            self._send(Message.new_method_return(msg))

    def _export_gatt(self, link: _Link) -> None:
        handle = FIRST_HANDLE
        for service in link.peripheral.services:
            service_path = f"{link.path}/service{handle:04x}"
            handle += 1
            self._add_object(service_path, {SERVICE: {
                "UUID": Variant("s", service.uuid), "Primary": Variant("b", True),
                "Device": Variant("o", link.path), "Includes": Variant("ao", []),
            }})
            link.gatt.append(service_path)
            for char in service.chars:
                char_path = f"{service_path}/char{handle:04x}"
                handle += 2  # declaration and value, as on air
                self._add_object(char_path, {CHARACTERISTIC: {
                    "UUID": Variant("s", char.uuid), "Service": Variant("o", service_path),
                    "Value": Variant("ay", char.value), "Notifying": Variant("b", False),
                    "Flags": Variant("as", list(char.flags)), "MTU": Variant("q", link.peripheral.mtu),
                }})
                link.gatt.append(char_path)
                link.chars[char_path] = char.uuid
                if "notify" in char.flags or "indicate" in char.flags:
                    desc_path = f"{char_path}/desc{handle:04x}"
                    handle += 1
                    self._add_object(desc_path, {DESCRIPTOR: {
                        "UUID": Variant("s", CCCD_UUID), "Characteristic": Variant("o", char_path),
                        "Value": Variant("ay", b""),
                    }})
                    link.gatt.append(desc_path)

    def _disconnect_call(self, msg: Message) -> Message:
        link = self.links[msg.path or ""]
        # Told to disconnect, bluetoothd gives up a connect still in progress.
        held, link.held_connects = link.held_connects, []
        for call in held:
            self._send(Message.new_error(call, "org.bluez.Error.Failed", "Operation canceled"))
        self._disconnect(link)
        return Message.new_method_return(msg)

    def _disconnect(self, link: _Link) -> None:
        """The one way a link ends, whoever ended it."""
        if not link.connected:
            return
        link.generation += 1
        link.connected = False
        if link.writer is not None:
            link.writer.cancel()
        link.writes = link.writer = None
        self._set(link.path, DEVICE, {"ServicesResolved": Variant("b", False)})
        for path in reversed(link.gatt):
            self._remove_object(path)
        link.gatt.clear()
        link.chars.clear()
        self._set(link.path, DEVICE, {"Connected": Variant("b", False)})
        link.peripheral.on_disconnect()

    def _pair(self, msg: Message) -> bool:
        self._spawn(self._pairing(msg, self.links[msg.path or ""]))
        return True

    async def _pairing(self, msg: Message, link: _Link) -> None:
        p = link.peripheral
        if p.pin is not None:
            agent = self.default_agent
            if agent is None:
                self._send(Message.new_error(msg, "org.bluez.Error.AuthenticationFailed", "no agent to ask for the PIN"))
                return
            answer = await self._call(agent[0], agent[1], "org.bluez.Agent1", "RequestPinCode", "o", [link.path])
            if answer.message_type == MessageType.ERROR or answer.body[0] != p.pin:
                self._send(Message.new_error(msg, "org.bluez.Error.AuthenticationFailed", "Authentication Failed"))
                return
        self._set(link.path, DEVICE, {"Paired": Variant("b", True), "Bonded": Variant("b", True)})
        self._send(Message.new_method_return(msg))

    def _register_agent(self, msg: Message) -> Message:
        self.agents[msg.body[0]] = (msg.sender, msg.body[0])
        return Message.new_method_return(msg)

    def _unregister_agent(self, msg: Message) -> Message:
        agent = self.agents.pop(msg.body[0], None)
        if agent is None:
            raise _Reply("org.bluez.Error.DoesNotExist", "Does Not Exist")
        if self.default_agent == agent:
            self.default_agent = None
        return Message.new_method_return(msg)

    def _default_agent(self, msg: Message) -> Message:
        agent = self.agents.get(msg.body[0])
        if agent is None:
            raise _Reply("org.bluez.Error.DoesNotExist", "Does Not Exist")
        self.default_agent = agent
        return Message.new_method_return(msg)

    # GATT ------------------------------------------------------------------------------------

    def _gatt_link(self, msg: Message) -> tuple[_Link, str]:
        path = msg.path or ""
        link = self.links.get(path[: path.find("/service")])
        if link is None or not link.connected or path not in link.chars:
            raise _Reply("org.bluez.Error.NotConnected", "Not Connected")
        return link, link.chars[path]

    def _notifying(self, msg: Message, on: bool) -> Message:
        self._gatt_link(msg)
        self._set(msg.path or "", CHARACTERISTIC, {"Notifying": Variant("b", on)})
        return Message.new_method_return(msg)

    def _authenticated(self, link: _Link, path: str, what: str) -> None:
        """Refuses a read or write (``what``) that the characteristic allows only on a paired link."""
        flags = self.objects[path][CHARACTERISTIC]["Flags"].value
        if f"encrypt-authenticated-{what}" in flags and not self.objects[link.path][DEVICE]["Paired"].value:
            raise _Reply("org.bluez.Error.NotPermitted", "Not paired")

    def _read(self, msg: Message) -> Message:
        link, uuid = self._gatt_link(msg)
        self._authenticated(link, msg.path or "", "read")
        try:
            value = bytes(link.peripheral.on_read(uuid))
        except GattError as exc:
            raise _Reply("org.bluez.Error.Failed", _att_failure(exc)) from None
        self._set(msg.path or "", CHARACTERISTIC, {"Value": Variant("ay", value)})
        return Message.new_method_return(msg, "ay", [value])

    def _write(self, msg: Message) -> Message | bool:
        link, uuid = self._gatt_link(msg)
        data, options = bytes(msg.body[0]), msg.body[1]
        kind = options["type"].value if "type" in options else "request"
        flags = self.objects[msg.path or ""][CHARACTERISTIC]["Flags"].value
        if (kind == "command" and "write-without-response" not in flags) or (kind != "command" and "write" not in flags):
            raise _Reply("org.bluez.Error.NotPermitted", "Write not permitted")
        self._authenticated(link, msg.path or "", "write")
        limit = link.peripheral.mtu - 3 if kind == "command" else 512
        if len(data) > limit:
            raise _Reply("org.bluez.Error.InvalidValueLength", "Invalid Length")
        assert link.writes is not None
        if kind == "command":
            link.writes.put_nowait((uuid, data, None))
            return Message.new_method_return(msg)  # bluetoothd answers a command once it is queued
        link.writes.put_nowait((uuid, data, msg))
        return True

    async def _write_worker(self, link: _Link) -> None:
        assert link.writes is not None
        queue = link.writes
        while True:
            uuid, data, msg = await queue.get()
            link.peripheral.writes.append((uuid, data))
            try:
                result = link.peripheral.on_write(uuid, data, msg is not None)
                if asyncio.iscoroutine(result):
                    await result
            except GattError as exc:
                if msg is not None:
                    self._send(Message.new_error(msg, "org.bluez.Error.Failed", _att_failure(exc)))
                continue
            if msg is not None:
                self._send(Message.new_method_return(msg))

    # Plumbing --------------------------------------------------------------------------------

    async def _call(self, destination: str, path: str, interface: str, member: str, signature: str = "",
                    body: list[Any] | None = None) -> Message:
        assert self._bus is not None
        return await self._bus.call(Message(destination=destination, path=path, interface=interface, member=member,
                                            signature=signature, body=body or []))

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


class _Reply(Exception):
    """An error answer to the call being handled."""

    def __init__(self, name: str, text: str) -> None:
        super().__init__(text)
        self.name = name
        self.text = text

    def message(self, call: Message) -> Message:
        return Message.new_error(call, self.name, self.text)
