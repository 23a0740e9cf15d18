"""Alarm and status words of a BMS, declared as tables: each bit's condition, in words, and the
Victron alarm it raises.

A codec declares one ``BitTable`` per word it receives and decodes the word with it, in one
place. Every set bit comes out as a condition text; a bit the table does not know is named
("unknown alarm bit 29"), never dropped. Where the record says where a condition is (the cell
the BMS protected), the codec passes that as a place and the text ends with it:
"cell over-voltage protection, cell 7". ``BitTable.encode`` is the way back, for simulators.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..model import ALARM_ALARM, ALARM_NAMES, ALARM_WARNING

# The places a table entry can name, filled in by the codec from the same record.
HIGHEST_CELL = "highest cell"
LOWEST_CELL = "lowest cell"
BALANCE_WIRES = "balance wires"


@dataclass(frozen=True, slots=True)
class AlarmBit:
    """One bit: the condition's text, the /Alarms/<name> it raises (None: a notice that raises
    none) at ``level``, and the place its text names when the record tells it."""

    text: str
    alarm: str | None = None
    level: int = ALARM_ALARM
    place: str | None = None

    def __post_init__(self) -> None:
        if self.alarm is not None and self.alarm not in ALARM_NAMES:
            raise ValueError(f"{self.text!r}: {self.alarm!r} is not a Victron alarm name")
        if self.level not in (ALARM_WARNING, ALARM_ALARM):
            raise ValueError(f"{self.text!r}: level {self.level} is neither warning nor alarm")


@dataclass(frozen=True, slots=True)
class BitTable:
    """The bits of one ``width``-bit word. ``states`` masks the bits that carry a state the codec
    decodes itself (a switch that is on), not a condition; a set bit that is neither in ``bits``
    nor in ``states`` is named "<unknown> N"."""

    width: int
    bits: Mapping[int, AlarmBit]
    states: int = 0
    unknown: str = "unknown alarm bit"

    def __post_init__(self) -> None:
        if any(not 0 <= b < self.width for b in self.bits) or self.states >> self.width:
            raise ValueError(f"a bit of the table lies outside its {self.width}-bit word")

    def first(self, width: int) -> BitTable:
        """The table of a word that has only this one's first ``width`` bits."""
        return BitTable(width, {b: e for b, e in self.bits.items() if b < width},
                        self.states & ((1 << width) - 1), self.unknown)

    def encode(self, alarms: Mapping[str, int]) -> int:
        """A word that raises ``alarms``: per raised alarm the first bit that raises it at its
        level, else at any level; an alarm no bit raises cannot travel in this word."""
        word = 0
        for name, level in alarms.items():
            if not level:
                continue
            raising = [b for b, e in sorted(self.bits.items()) if e.alarm == name]
            bit = next((b for b in raising if self.bits[b].level == level), raising[0] if raising else None)
            if bit is not None:
                word |= 1 << bit
        return word


@dataclass(slots=True)
class Decoded:
    """What a record's words said: the Victron alarms they raise and their conditions, in bit order."""

    alarms: dict[str, int] = field(default_factory=dict)
    conditions: list[str] = field(default_factory=list)

    def add(self, table: BitTable, word: int, places: Mapping[str, str] | None = None) -> None:
        """The conditions of ``word`` (bits above the table's width are ignored); where two bits
        raise one alarm, the higher level wins."""
        places = places or {}
        word &= ~table.states & ((1 << table.width) - 1)
        while word:
            bit = (word & -word).bit_length() - 1  # the lowest set bit
            word &= word - 1
            entry = table.bits.get(bit)
            if entry is None:
                self.conditions.append(f"{table.unknown} {bit}")
                continue
            where = places.get(entry.place) if entry.place else None
            self.conditions.append(f"{entry.text}, {where}" if where else entry.text)
            if entry.alarm is not None:
                self.alarms[entry.alarm] = max(self.alarms.get(entry.alarm, 0), entry.level)


def cells_text(numbers: list[int]) -> str:
    """"cell 7", "cells 3, 5": 1-based cell numbers as a place."""
    return ("cell " if len(numbers) == 1 else "cells ") + ", ".join(map(str, numbers))
