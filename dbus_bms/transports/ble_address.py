"""How a BLE BMS is named in the config: a MAC (``C8:47:8C:12:34:56``) or its advertised name.

Free of bleak, so the config can tell the two apart without loading the BLE stack.
"""

from __future__ import annotations

import re

_MAC = re.compile(r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}")
# Four or more short groups of letters and digits joined by colons or dashes: a MAC typed by hand,
# which no BMS's advertised name resembles (theirs are like JK_B2A8S20P or JK-B2A24S15P).
_MAC_LIKE = re.compile(r"[0-9A-Za-z]{1,3}([:-][0-9A-Za-z]{1,3}){3,}")
_OCTET = re.compile(r"[0-9A-Fa-f]{2}")


def is_mac(text: str) -> bool:
    return bool(_MAC.fullmatch(text))


def normal_target(text: str) -> str:
    """A MAC in upper case with colons, as BlueZ spells it (dashes are accepted); a name as it is."""
    colons = text.replace("-", ":")
    return colons.upper() if is_mac(colons) else text


def mac_problem(text: str) -> str | None:
    """What is wrong with ``text`` if it is shaped like a MAC but is not one; None for a MAC or a name."""
    if is_mac(normal_target(text)) or not _MAC_LIKE.fullmatch(text):
        return None
    parts = re.split(r"[:-]", text)
    if len(parts) != 6:
        return f"it has {len(parts)} parts, not 6"
    bad = next(p for p in parts if not _OCTET.fullmatch(p))
    return f"{bad!r} is not two hex digits"
