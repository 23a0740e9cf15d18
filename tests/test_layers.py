"""The layers of docs/architecture.md, held: every import between dbus-bms's own modules goes down the
table below, never up or sideways, so a codec stays free of I/O and charge control free of D-Bus."""

from __future__ import annotations

import ast
from pathlib import Path

import dbus_bms

PACKAGE = Path(dbus_bms.__file__).parent

# What each part of the package may import of the package (its own modules aside). The version
# lives in the package's __init__; anyone may read it.
ALLOWED: dict[str, set[str]] = {
    "model": set(),
    "statefile": set(),
    "protocols": {"model"},
    "transports": set(),
    "devices": {"model", "protocols", "transports", "statefile"},
    "charge": {"model", "statefile"},
    "history": {"model"},
    "group": {"model", "charge"},
    "history_store": {"history", "statefile"},
    "soc_counter": {"model", "history"},
    "soc_store": {"soc_counter", "statefile"},
    "bms_settings_store": {"model", "statefile"},
    "victron": {"model", "charge", "group", "history"},
    "config": {"charge", "devices", "group", "transports"},
    "port_claim": {"config", "transports"},
    "app": {"model", "charge", "config", "devices", "group", "group_battery", "history", "history_store", "bms_settings_store", "victron",
            "soc_counter", "soc_store"},
    "group_battery": {"model", "charge", "config", "devices", "group", "history", "history_store", "victron",
                      "soc_counter", "soc_store"},
    "sim": {"model", "protocols", "charge", "group", "statefile", "victron"},
    "demo": {"devices", "sim", "victron"},
    "cli": {"app", "bms_settings_store", "charge", "config", "demo", "devices", "model", "protocols", "sim", "transports"},
    "__main__": {"cli"},
}


def part_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE).parts
    return rel[0] if len(rel) > 1 else path.stem


def imported_parts(source: str, where: tuple[str, ...]) -> set[str]:
    """The parts of the package that ``source``, a module in the folders ``where`` of the package,
    imports (relative or absolute imports alike)."""
    here = list(where)
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)]
                target = base + (node.module.split(".") if node.module else [])
                found.add(target[0] if target else node.names[0].name)
            elif node.module and node.module.split(".")[0] == "dbus_bms":
                names = node.module.split(".")[1:]
                found.add(names[0] if names else node.names[0].name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                names = alias.name.split(".")
                if names[0] == "dbus_bms" and len(names) > 1:
                    found.add(names[1])
    return found


def test_every_import_goes_down_the_layers():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        part = part_of(path)
        if part == "__init__":
            continue
        assert part in ALLOWED, f"{path.relative_to(PACKAGE)}: a part of the package the layer table does not know"
        where = path.relative_to(PACKAGE).parts[:-1]
        for target in imported_parts(path.read_text(), where) - {part, "__version__"}:
            if target not in ALLOWED[part]:
                wrong.append(f"{path.relative_to(PACKAGE)} imports {target}")
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_the_check_sees_every_spelling_of_an_import():
    assert imported_parts("from ..transports.serial import SerialTransport", ("protocols",)) == {"transports"}
    assert imported_parts("from . import errors\nfrom .. import model", ("protocols",)) == {"protocols", "model"}
    assert imported_parts("from .history import update", ()) == {"history"}
    assert imported_parts("import dbus_bms.victron.busitem\nfrom dbus_bms.app import run", ("sim",)) == {"victron", "app"}
