"""The config ``type:`` names and the device each one builds."""

from __future__ import annotations

from collections.abc import Callable

from .base import Device
from .jk_nw import JkNwDevice


def _jk_nw(cfg) -> Device:
    return JkNwDevice(cfg.port, baudrate=cfg.baudrate, timeout=cfg.timeout)


DEVICE_TYPES: dict[str, tuple[str, Callable[..., Device]]] = {
    "jk-nw": ("JK BMS, UART/RS485 'NW' protocol (4E 57 frames)", _jk_nw),
}


def create_device(cfg) -> Device:
    """The device for one battery's config (a BatteryConfig or anything with its fields)."""
    try:
        _, factory = DEVICE_TYPES[cfg.type]
    except KeyError:
        raise ValueError(f"unknown device type {cfg.type!r}; known: {', '.join(DEVICE_TYPES)}") from None
    return factory(cfg)
