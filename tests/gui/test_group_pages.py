"""The gui-v2 plugin on a battery group, headless: the Packs page and a member's cells, loaded from the
committed plugin against the stand-ins in tests/gui/qml, fed from a D-Bus tree recorded from the
running daemon with three members, the third offline (tests/fixtures/gui_group_tree.json,
tools/record-group-tree.py). Any Qt warning fails."""

from __future__ import annotations

import json
import math

import pytest
import shiboken6
from PySide6.QtCore import QUrl
from PySide6.QtGui import QColor
from PySide6.QtQml import QQmlComponent

from .test_plugin import TREE, assert_picture, gui_plugin, list_items, one

GROUP = json.loads((gui_plugin.ROOT / "tests" / "fixtures" / "gui_group_tree.json").read_text())
PACKS = GROUP["/System/NrOfBatteries"]
CRITICAL = QColor("#F35C58")  # the stand-in Theme's color_critical, gui-v2's


@pytest.fixture
def open_page(renderer):
    """``renderer.open``, its pages gone at the end of the test: they would read the next test's tree."""
    pages = []

    def open_(items, qml, lang="en", **properties):
        pages.append(renderer.open(items, qml, lang, **properties))
        return pages[-1]

    yield open_
    for page in pages:
        shiboken6.delete(page)


@pytest.fixture
def page_manager(renderer):
    """gui-v2's Global.pageManager (its stand-in), as the pages push their subpages on it. The page
    pushed last goes at the end of the test: it would read the next test's tree."""
    component = QQmlComponent(renderer.engine)
    component.setData(b"import QtQml\nimport Victron.VenusOS\nQtObject { readonly property QtObject manager: "
                      b"Global.pageManager }\n", QUrl())
    holder = component.create()
    manager = holder.property("manager")
    yield manager
    page = manager.property("currentPage")
    if page is not None:
        shiboken6.delete(page)
    shiboken6.delete(holder)


def pushed(page_manager):
    page = page_manager.property("currentPage")
    assert page is not None, "no page was pushed"
    return page


def pack(k: int, path: str):
    return GROUP[f"/Packs/{k}{path}"]


def cells_of(k: int) -> list[float]:
    cells = []
    while f"/Packs/{k}/Voltages/Cell{len(cells) + 1}" in GROUP:
        cells.append(pack(k, f"/Voltages/Cell{len(cells) + 1}"))
    return cells


def test_the_recorded_tree_is_a_group_of_three_with_the_third_offline():
    assert PACKS == 3 and "/Voltages/Cell1" not in GROUP
    assert [pack(k, "/Online") for k in (1, 2, 3)] == [1, 1, 0]
    assert pack(3, "/Dc/0/Voltage") is None and pack(3, "/Info/ChargeLimitation").startswith("Fail-safe")
    assert any(v == 1 for k in (1, 2) for p, v in GROUP.items() if p.startswith(f"/Packs/{k}/Balances/"))


@pytest.mark.parametrize("lang, title, online, offline", [
    ("en", "Packs", "2 of 3", "Offline"),
    ("de", "Packs", "2 von 3", "Offline"),
])
def test_the_packs_page_has_a_row_per_member_with_its_reading_and_limits_and_the_offline_one_in_red(
    renderer, open_page, tmp_path, lang, title, online, offline
):
    page = open_page(GROUP, "PagePacks.qml", lang)
    assert_picture(renderer.grab(page, tmp_path / "packs.png"))
    assert renderer.warnings == []
    assert renderer.tree.missing == set()  # every path the page binds is one the daemon publishes
    assert page.property("title") == title
    assert one(page, "Packs online").property("secondaryText") == online

    rows = sorted(list_items(page, "PackRow"), key=lambda r: r.property("index"))
    assert [r.property("text") for r in rows] == [pack(k, "/Name") for k in (1, 2, 3)]
    for k, row in enumerate(rows[:2], 1):
        assert row.property("secondaryText") == (
            f"{pack(k, '/Dc/0/Voltage'):.2f} V, {pack(k, '/Dc/0/Current'):.1f} A, {pack(k, '/Soc'):.0f} %")
        assert row.property("secondaryTextColor") != CRITICAL
        caption = row.property("caption").split("\n")
        assert caption[1] == (f"CCL {pack(k, '/Info/MaxChargeCurrent'):.1f} A, "
                              f"DCL {pack(k, '/Info/MaxDischargeCurrent'):.1f} A")
        assert f"{pack(k, '/System/MinCellVoltage'):.3f}" in caption[0]
        assert f"{pack(k, '/System/MaxCellVoltage'):.3f}" in caption[0]
        assert caption[2] == pack(k, "/Info/ChargeLimitation")
    third = rows[2]
    assert third.property("secondaryText") == offline
    assert third.property("secondaryTextColor") == CRITICAL
    # Its own fail-safe's limits and why, and no cells: nothing stale is shown as live.
    assert third.property("caption").split("\n") == [
        f"CCL {pack(3, '/Info/MaxChargeCurrent'):.1f} A, DCL {pack(3, '/Info/MaxDischargeCurrent'):.1f} A",
        pack(3, "/Info/ChargeLimitation"),
    ]


@pytest.mark.parametrize("lang, highest, lowest, balancing", [
    ("en", "Highest cell (C%d)", "Lowest cell (C%d)", "Balancing"),
    ("de", "Höchste Zelle (C%d)", "Niedrigste Zelle (C%d)", "Balancieren"),
])
def test_a_member_row_opens_that_members_cells_on_the_cells_page(
    renderer, open_page, page_manager, tmp_path, lang, highest, lowest, balancing
):
    page = open_page(GROUP, "PagePacks.qml", lang)
    rows = sorted(list_items(page, "PackRow"), key=lambda r: r.property("index"))
    renderer.tree.read.clear()  # from here on, what the member's cells page reads
    rows[1].click()
    assert page_manager.property("currentUrl") == "qrc:/dbus-bms/PageCells.qml"
    cells = pushed(page_manager)
    assert_picture(renderer.grab(cells, tmp_path / "pack-cells.png"))
    assert renderer.warnings == []
    assert cells.property("title") == pack(2, "/Name")
    voltages = cells_of(2)
    assert cells.property("cellCount") == len(voltages) > 0
    tree = renderer.tree
    read = {f"/Packs/2/{kind}/Cell{i}" for kind in ("Voltages", "Balances") for i in range(1, len(voltages) + 1)}
    assert read <= tree.read
    # A member's cell count is where its cell paths end: only the paths past its last are looked for.
    past = [p.removeprefix("/Packs/2/Voltages/Cell") for p in tree.missing]
    assert past and all(n.isdigit() and int(n) > len(voltages) for n in past)
    assert not any(p.startswith(("/Packs/1/", "/Packs/3/", "/Voltages/")) for p in tree.read)

    # Named as the daemon names a battery's: the first cell at the highest (lowest) voltage.
    assert one(cells, highest % (voltages.index(max(voltages)) + 1)).property("value") == max(voltages)
    assert one(cells, lowest % (voltages.index(min(voltages)) + 1)).property("value") == min(voltages)
    balancing_cells = [i for i in range(1, len(voltages) + 1) if pack(2, f"/Balances/Cell{i}") == 1]
    assert balancing_cells, "the recorded tree should have cells of this pack that balance"
    assert one(cells, balancing).property("secondaryText") == ", ".join(f"C{i}" for i in balancing_cells)


def test_the_offline_members_cells_page_shows_no_cell(renderer, open_page, page_manager, tmp_path):
    page = open_page(GROUP, "PagePacks.qml")
    rows = sorted(list_items(page, "PackRow"), key=lambda r: r.property("index"))
    rows[2].click()
    cells = pushed(page_manager)
    renderer.grab(cells, tmp_path / "offline-cells.png")
    assert renderer.warnings == []
    assert cells.property("title") == pack(3, "/Name")
    assert cells.property("cellCount") == 0
    assert math.isnan(one(cells, "Highest cell (--)").property("value"))
    assert one(cells, "Difference").property("secondaryText") == "--"


@pytest.mark.parametrize("lang, text, highest, difference", [
    ("en", "A group of 3 packs: their cells are under Packs", "Highest cell (%s)", "Difference"),
    ("de", "Ein Verbund aus 3 Packs: ihre Zellen stehen unter Packs", "Höchste Zelle (%s)", "Differenz"),
])
def test_the_cells_page_of_a_group_says_so_and_opens_the_packs_page(
    renderer, open_page, page_manager, tmp_path, lang, text, highest, difference
):
    page = open_page(GROUP, "PageCells.qml", lang)
    assert_picture(renderer.grab(page, tmp_path / "group-cells.png"))
    assert renderer.warnings == []
    assert renderer.tree.missing == set()
    assert page.property("cellCount") == 0
    assert not any("/Voltages/Cell" in p or "/Balances/Cell" in p for p in renderer.tree.read)
    row = one(page, text)
    assert row.property("effectiveVisible")
    # The group's highest cell names the member it is in; the difference is across the members.
    assert one(page, highest % GROUP["/System/MaxVoltageCellId"]).property("value") == GROUP["/System/MaxCellVoltage"]
    spread = round((GROUP["/System/MaxCellVoltage"] - GROUP["/System/MinCellVoltage"]) * 1000)
    assert GROUP["/Voltages/Diff"] is None and one(page, difference).property("secondaryText") == f"{spread} mV"
    row.click()
    assert page_manager.property("currentUrl") == "qrc:/dbus-bms/PagePacks.qml"
    packs = pushed(page_manager)
    assert packs.property("title") == "Packs"
    assert len(list_items(packs, "PackRow")) == PACKS


def test_a_single_batterys_cells_page_has_no_group_row(renderer, open_page, tmp_path):
    page = open_page(TREE, "PageCells.qml")
    assert renderer.warnings == []
    assert renderer.tree.missing == set()
    assert [o.property("effectiveVisible") for o in list_items(page, "ListNavigation")] == [False]
    assert page.property("cellCount") == TREE["/System/NrOfCellsPerBattery"]


def test_the_packs_screenshot_is_committed():
    assert_picture(gui_plugin.SCREENSHOTS / "gui-packs.png")
