"""Faults a simulated BMS can inject into its replies, switchable while it runs."""

from __future__ import annotations

import enum
import random


class Fault(enum.Enum):
    NONE = "none"
    SILENT = "silent"  # answers nothing, as a BMS with a broken cable
    GARBAGE = "garbage"  # random bytes instead of a reply
    BAD_CHECKSUM = "bad-checksum"  # a whole frame with one bit flipped
    TRUNCATED = "truncated"  # the first part of a frame only


def apply_fault(fault: Fault, reply: bytes, rng: random.Random) -> bytes:
    """What actually goes out on the line when ``fault`` is active."""
    if fault is Fault.NONE:
        return reply
    if fault is Fault.SILENT:
        return b""
    if fault is Fault.GARBAGE:
        return rng.randbytes(rng.randint(1, 2 * len(reply)))
    if fault is Fault.BAD_CHECKSUM:
        damaged = bytearray(reply)
        damaged[rng.randrange(4, len(damaged) - 4)] ^= 0x10
        return bytes(damaged)
    return reply[: rng.randint(1, len(reply) - 1)]
