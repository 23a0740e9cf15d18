"""How a BLE BMS is named in the config: a MAC (``C8:47:8C:12:34:56``) or its advertised name.

Free of bleak, so the config can tell the two apart without loading the BLE stack.
"""

from __future__ import annotations

import re

_MAC = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")


def is_mac(text: str) -> bool:
    return bool(_MAC.match(text))


def normal_target(text: str) -> str:
    """A MAC in upper case, as BlueZ spells it; a name as it is."""
    return text.upper() if is_mac(text) else text
