"""The gui-v2 plugin, headless: its pages load from the committed plugin JSON, as gui-v2 loads them,
against the stand-ins in tests/gui/qml, fed from a D-Bus tree recorded from the running daemon
(tests/fixtures/gui_tree.json, tools/record-tree.py). Any Qt warning fails."""

from __future__ import annotations

import importlib.util
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("gui_plugin", ROOT / "tools" / "gui_plugin.py")
gui_plugin = importlib.util.module_from_spec(_spec)
sys.modules["gui_plugin"] = gui_plugin  # its dataclasses look their module up there
_spec.loader.exec_module(gui_plugin)

from PySide6.QtCore import QDir, QFile, QLocale, QObject, QTranslator  # noqa: E402
from PySide6.QtGui import QImage  # noqa: E402
from PySide6.QtQuick import QQuickItem  # noqa: E402

TREE = json.loads(gui_plugin.TREE.read_text())


def list_items(page: QObject, kind: str = "List") -> list[QObject]:
    """The page's list items (ListText, ListSwitch...: ``kind`` is the start of the type's name),
    those a Repeater made included: they are children of the visual tree only."""
    found, todo = {}, [page]
    while todo:
        o = todo.pop()
        if id(o) in found:
            continue
        found[id(o)] = o
        todo += o.findChildren(QObject)
        if isinstance(o, QQuickItem):
            todo += o.childItems()
    return [o for o in found.values() if o.metaObject().className().startswith(kind)]


def with_text(page: QObject, text: str) -> list[QObject]:
    return [o for o in list_items(page) if o.property("text") == text]


def one(page: QObject, text: str) -> QObject:
    found = with_text(page, text)
    assert len(found) == 1, f"{len(found)} items with text {text!r}"
    return found[0]


def assert_picture(path: Path) -> None:
    """A real picture: not empty, not all one colour, and much of it not the background."""
    image = QImage(str(path))
    assert not image.isNull() and image.width() > 0 and image.height() > 0
    background = image.pixel(0, 0)
    samples = [image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)]
    assert len(set(samples)) >= 8
    assert sum(p != background for p in samples) > 0.2 * len(samples)


def test_the_committed_plugin_is_built_from_the_sources(renderer, tmp_path):
    fresh = json.loads(gui_plugin.build(tmp_path / "dbus-bms.json").read_text())
    committed = renderer.plugin
    assert {k: v for k, v in committed.items() if k != "resource"} == {k: v for k, v in fresh.items() if k != "resource"}
    sources = sorted(p.name for p in gui_plugin.QML_DIR.glob("*.qml"))
    catalogues = [f"dbus-bms_{lang}.qm" for lang in gui_plugin.LANGUAGES]
    assert sorted(QDir(":/dbus-bms").entryList()) == sorted(sources + catalogues)
    for name in sources:
        f = QFile(f":/dbus-bms/{name}")
        assert f.open(QFile.OpenModeFlag.ReadOnly)
        assert bytes(f.readAll()) == (gui_plugin.QML_DIR / name).read_bytes(), f"{name}: rebuild the plugin"
    for lang in gui_plugin.LANGUAGES:
        t = QTranslator()
        assert t.load(QLocale(lang), "dbus-bms", "_", ":/dbus-bms")
        messages = ET.parse(gui_plugin.QML_DIR / f"dbus-bms_{lang}.ts").iter("message")
        expected = {m.get("id"): m.findtext("translation") for m in messages}
        assert len(expected) > 50 and all(expected.values()), f"{lang}: untranslated messages"
        assert {i: t.translate("", i) for i in expected} == expected


def test_the_pages_are_bound_to_the_dbus_bms_product_id_only(renderer):
    pages = renderer.integrations(gui_plugin.product_id())
    assert [p["url"] for p in pages] == [f"qrc:/dbus-bms/{qml}" for qml, _ in gui_plugin.PAGES.values()]
    # gui-v2 looks a device's pages up by its ProductId in upper-case hex.
    assert gui_plugin.product_id() == "0x" + format(TREE["/ProductId"], "X")
    assert renderer.integrations("0xBA77") == []


@pytest.mark.parametrize("lang, titles, balancing", [
    ("en", {"cells": "Cells", "charge": "Charge control", "bms": "BMS"}, "Balancing"),
    ("de", {"cells": "Zellen", "charge": "Ladesteuerung", "bms": "BMS"}, "Balancieren"),
])
def test_every_page_loads_from_the_recorded_tree_without_a_warning(renderer, tmp_path, lang, titles, balancing):
    rendered = renderer.render(TREE, tmp_path, lang)
    assert rendered.warnings == []
    assert rendered.titles == titles
    for path in rendered.images.values():
        assert_picture(path)
    tree = renderer.tree
    assert tree.missing == set()  # every path a page binds is one the daemon publishes
    cells = TREE["/System/NrOfCellsPerBattery"]
    assert {f"/Voltages/Cell{i}" for i in range(1, cells + 1)} | {f"/Balances/Cell{i}" for i in range(1, cells + 1)} <= tree.read
    balancing_cells = sorted((int(p.removeprefix("/Balances/Cell")) for p, v in TREE.items()
                              if p.startswith("/Balances/") and v == 1))
    assert balancing_cells, "the recorded tree should have cells that balance"
    row = one(rendered.pages["cells"], balancing)
    assert row.property("secondaryText") == ", ".join(f"C{i}" for i in balancing_cells)


def test_alarms_show_by_name_the_fail_safe_is_said_and_the_switches_write_their_paths(renderer, tmp_path):
    tree = {**TREE, "/Alarms/HighCellVoltage": 2, "/Alarms/LowSoc": 1, "/State": 10,
            "/Info/BmsConditions": "cell over-voltage protection, cell 6"}
    rendered = renderer.render(tree, tmp_path)
    assert rendered.warnings == []
    bms = rendered.pages["bms"]
    alarms = list_items(bms, "ListAlarm")
    assert len(alarms) == 17
    shown = {o.property("text"): o.property("secondaryText") for o in alarms if o.property("effectiveVisible")}
    assert shown == {"High cell voltage": "Alarm", "Low state of charge": "Warning"}
    assert one(bms, "Active alarms").property("secondaryText") == "2"
    assert one(bms, "Conditions").property("caption") == "cell over-voltage protection, cell 6"
    assert one(rendered.pages["charge"], "Fail-safe").property("secondaryText") == "Active"

    charge = one(bms, "Charging allowed")
    assert charge.property("effectiveVisible") and charge.property("checked")
    charge.click()
    assert renderer.tree.writes == [("/Settings/ForceChargingOff", 1)]  # 1 = switched off
    assert not charge.property("checked")
    one(bms, "Balancer on").click()
    assert renderer.tree.writes[-1] == ("/Settings/TurnBalancingOff", 1)

    rendered = renderer.render({**TREE, "/Settings/HasSettings": 0}, tmp_path)
    for text in ("Charging allowed", "Discharging allowed", "Balancer on"):
        assert not one(rendered.pages["bms"], text).property("effectiveVisible")


def test_the_readme_screenshots_are_committed():
    for page in gui_plugin.PAGES:
        assert_picture(gui_plugin.SCREENSHOTS / f"gui-{page}.png")
