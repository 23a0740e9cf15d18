#!/usr/bin/env python3
"""The dbus-bms gui-v2 plugin: build it from qml/, and render its pages headless.

    .venv/bin/python tools/gui_plugin.py build         qml/gui-v2/dbus-bms.json from qml/*.qml and *.ts
    .venv/bin/python tools/gui_plugin.py lupdate       refresh qml/*.ts from the QML (keeps translations)
    .venv/bin/python tools/gui_plugin.py screenshots   docs/img/gui-*.png from tests/fixtures/gui_tree.json
                                                       (the Packs page from tests/fixtures/gui_group_tree.json)

The plugin is the JSON gui-v2 loads from /data/apps/enabled/<app>/gui-v2/: name, version, the gui-v2
versions it needs, its integrations (here three device-list pages bound to dbus-bms's ProductId)
and a base64 Qt resource holding the QML and the translation catalogues. Building needs PySide6
(the `gui` extra); the build is reproducible, so the tests can check the committed JSON.

Rendering loads the pages from the built plugin as gui-v2 does (the resource registered, the
English catalogue and then the chosen one installed) against the stand-ins for the gui-v2
components in tests/gui/qml, fed from a recorded D-Bus tree.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import PySide6
from PySide6.QtCore import (
    Property, QLocale, QObject, QResource, QTranslator, QtMsgType, QUrl, Signal, Slot, qInstallMessageHandler,
)
from PySide6.QtGui import QGuiApplication
from PySide6.QtQml import QQmlComponent, QQmlEngine, qmlRegisterSingletonInstance
from PySide6.QtQuick import QQuickItem, QQuickWindow

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dbus_bms import __version__  # noqa: E402
from dbus_bms.victron.battery_service import PRODUCT_ID  # noqa: E402

QML_DIR = ROOT / "qml"
PLUGIN_JSON = QML_DIR / "gui-v2" / "dbus-bms.json"
STAND_INS = ROOT / "tests" / "gui" / "qml"
TREE = ROOT / "tests" / "fixtures" / "gui_tree.json"
# A group of three packs, the third offline (tools/record-group-tree.py).
GROUP_TREE = ROOT / "tests" / "fixtures" / "gui_group_tree.json"
SCREENSHOTS = ROOT / "docs" / "img"
NAME = "dbus-bms"
LANGUAGES = ("en", "de")
# Each page, with the translation id of its title (gui-v2 shows qsTrId(title) in the device's page).
PAGES = {
    "cells": ("PageCells.qml", "dbus_bms_cells_title"),
    "charge": ("PageChargeControl.qml", "dbus_bms_charge_title"),
    "bms": ("PageBms.qml", "dbus_bms_bms_title"),
}
# The first gui-v2 with plugins (its tag v1.2.14); Venus OS 3.70 ships 1.2.40.
MIN_GUI_VERSION = "v1.2.14"
# What the gui-v2 D-Bus backend calls a service: "dbus/" + its bus name.
SERVICE_UID = "dbus/com.victronenergy.battery.jkble0"
PAGE_WIDTH = 1024
# Below the list's last item in a screenshot (px).
BOTTOM_GAP = 20


def product_id() -> str:
    """dbus-bms's ProductId as gui-v2 writes it when it looks up a device's plugin pages."""
    return "0x" + format(PRODUCT_ID, "X")


def _qt_tool(name: str) -> str:
    """A Qt tool as the PySide6 wheel ships it (its pyside6-rcc wrapper writes Python, not a resource)."""
    package = Path(PySide6.__file__).parent
    for candidate in (package / name, package / "Qt" / "libexec" / name):
        if candidate.is_file():
            return str(candidate)
    raise SystemExit(f"{name} not found in {package}: install the gui extra (pip install -e '.[gui]')")


def _run(cmd: list[str], **kwargs: Any) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stdout}{r.stderr}")


def build(out: Path = PLUGIN_JSON) -> Path:
    """Writes the plugin JSON to ``out``; the same sources give the same bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp)
        files = []
        for qml in sorted(QML_DIR.glob("*.qml")):
            shutil.copy(qml, stage / qml.name)
            files.append(qml.name)
        translations = []
        for lang in LANGUAGES:
            qm = f"{NAME}_{lang}.qm"
            _run([_qt_tool("lrelease"), "-idbased", "-silent", str(QML_DIR / f"{NAME}_{lang}.ts"), "-qm", str(stage / qm)])
            files.append(qm)
            translations.append(f"qrc:/{NAME}/{qm}")
        entries = "".join(f"<file>{f}</file>\n" for f in files)
        (stage / f"{NAME}.qrc").write_text(f'<RCC>\n<qresource prefix="/{NAME}">\n{entries}</qresource>\n</RCC>\n')
        # zlib, as gui-v2's own plugin compiler uses; a fixed date keeps the resource reproducible.
        _run([_qt_tool("rcc"), "-binary", "--compress-algo", "zlib", "-o", f"{NAME}.rcc", f"{NAME}.qrc"],
             cwd=stage, env={**os.environ, "QT_RCC_SOURCE_DATE_OVERRIDE": "1"})
        resource = base64.b64encode((stage / f"{NAME}.rcc").read_bytes()).decode()
    plugin = {
        "name": NAME,
        "version": __version__,
        "minRequiredVersion": MIN_GUI_VERSION,
        "maxRequiredVersion": "",
        "translations": translations,
        "integrations": [
            {"type": 2, "productId": product_id(), "url": f"qrc:/{NAME}/{qml}", "title": title}
            for qml, title in PAGES.values()
        ],
        "resource": resource,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(plugin, indent=4) + "\n")
    return out


def lupdate() -> None:
    """Brings qml/*.ts up to date with the QML's translation ids, keeping what is translated."""
    qml = [str(p) for p in sorted(QML_DIR.glob("*.qml"))]
    for lang in LANGUAGES:
        _run([_qt_tool("lupdate"), "-silent", "-locations", "none", *qml, "-ts", str(QML_DIR / f"{NAME}_{lang}.ts")])


@dataclass
class Rendered:
    """What rendering the pages gave: a screenshot per page, and what the pages did."""

    images: dict[str, Path] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    pages: dict[str, Any] = field(default_factory=dict)


class Renderer:
    """Loads the plugin's pages as gui-v2 does, in one Qt application (one per process)."""

    def __init__(self, plugin: Path = PLUGIN_JSON) -> None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        self.warnings: list[str] = []
        qInstallMessageHandler(self._message)
        self.app = QGuiApplication.instance() or QGuiApplication([sys.argv[0]])
        self.plugin = json.loads(plugin.read_text())
        # Registered for as long as the renderer lives: the data must outlive the registration.
        self._resource = base64.b64decode(self.plugin["resource"])
        if not QResource.registerResourceData(self._resource):
            raise RuntimeError(f"{plugin}: the resource does not load")
        self.tree = RecordedTree()
        qmlRegisterSingletonInstance(RecordedTree, "DbusBmsGuiTest", 1, 0, "RecordedTree", self.tree)
        self.engine = QQmlEngine()
        self.engine.addImportPath(str(STAND_INS))
        self._translators: list[Any] = []
        self._kept: list[Any] = []

    def _message(self, mode: Any, context: Any, message: str) -> None:
        if mode != QtMsgType.QtDebugMsg and mode != QtMsgType.QtInfoMsg:
            self.warnings.append(message)

    def _use_language(self, lang: str) -> None:
        """gui-v2's order: the English catalogue always, then the chosen language's."""
        for t in self._translators:
            self.app.removeTranslator(t)
        self._translators = []
        for language in dict.fromkeys(("en", lang)):
            t = QTranslator()
            if not t.load(QLocale(language), NAME, "_", f":/{NAME}"):
                raise RuntimeError(f"no {language} catalogue in the plugin")
            self.app.installTranslator(t)
            self._translators.append(t)

    def integrations(self, pid: str) -> list[dict]:
        """The device-list pages gui-v2 offers for a device of ProductId ``pid`` (compared as gui-v2
        does, ignoring case)."""
        return [i for i in self.plugin["integrations"] if i["type"] == 2 and i["productId"].lower() == pid.lower()]

    def render(self, items: dict[str, Any], out_dir: Path, lang: str = "en", prefix: str = "gui-") -> Rendered:
        """Each page for ``items`` (a recorded tree), as ``out_dir``/<prefix><page>.png."""
        self.tree.load(SERVICE_UID, items)
        self._use_language(lang)
        self.warnings.clear()
        result = Rendered()
        device = self._device(items)
        by_url = {i["url"]: i for i in self.integrations(product_id())}
        out_dir.mkdir(parents=True, exist_ok=True)
        for page, (qml, title_id) in PAGES.items():
            url = f"qrc:/{NAME}/{qml}"
            if url not in by_url or by_url[url]["title"] != title_id:
                raise RuntimeError(f"{url} is not a device-list page of the plugin for {product_id()}")
            item = self._create(QQmlComponent(self.engine, QUrl(url)), {"device": device})
            result.pages[page] = item
            result.titles[page] = item.property("title")
            result.images[page] = self._grab(item, out_dir / f"{prefix}{page}.png")
        result.warnings = list(self.warnings)
        return result

    def open(self, items: dict[str, Any], qml: str, lang: str = "en", **properties: Any) -> Any:
        """The plugin's page ``qml`` for ``items`` (a recorded tree), created from its URL with a
        ``device`` and ``properties`` as gui-v2 pushes a page; ``grab`` lays it out and saves it."""
        self.tree.load(SERVICE_UID, items)
        self._use_language(lang)
        self.warnings.clear()
        return self._create(QQmlComponent(self.engine, QUrl(f"qrc:/{NAME}/{qml}")),
                            {"device": self._device(items), **properties})

    def grab(self, page: Any, path: Path) -> Path:
        """``page`` at the GX's width, as tall as its list, saved to ``path``."""
        return self._grab(page, path)

    def _device(self, items: dict[str, Any]) -> Any:
        """The Device that gui-v2's DevicePage gives a device-list page, for the battery of ``items``."""
        return self._create(QQmlComponent(self.engine), {}, source=(
            b'import Victron.VenusOS\nDevice { serviceUid: "%s"; productId: %d }\n'
            % (SERVICE_UID.encode(), items["/ProductId"])))

    def _create(self, component: Any, properties: dict[str, Any], source: bytes | None = None) -> Any:
        if source is not None:
            component.setData(source, QUrl())
        if component.isError():
            raise RuntimeError("\n".join(e.toString() for e in component.errors()))
        obj = component.createWithInitialProperties(properties)
        if obj is None:
            raise RuntimeError("\n".join(e.toString() for e in component.errors()))
        # Kept, with its component, for as long as the renderer: the QML engine would collect them.
        QQmlEngine.setObjectOwnership(obj, QQmlEngine.ObjectOwnership.CppOwnership)
        self._kept += [component, obj]
        return obj

    def _grab(self, page: Any, path: Path) -> Path:
        """The page at the GX's width, as tall as its list, saved to ``path``."""
        window = QQuickWindow()
        self._kept.append(window)
        page.setParentItem(window.contentItem())
        lists = [c for c in page.findChildren(QQuickItem) if c.inherits("QQuickListView")]
        height = page.property("implicitHeight")
        window.resize(PAGE_WIDTH, height)
        page.setSize(window.size().toSizeF())
        window.show()
        # The list lays out what fits, so its content height settles after a few passes.
        for _ in range(5):
            self.app.processEvents()
            wanted = max(height, int(lists[0].property("contentHeight")) + BOTTOM_GAP) if lists else height
            if wanted == window.height():
                break
            window.resize(PAGE_WIDTH, wanted)
            page.setSize(window.size().toSizeF())
        self.app.processEvents()
        image = window.grabWindow()
        if image.isNull() or not image.save(str(path)):
            raise RuntimeError(f"could not save {path}")
        window.hide()
        return path


class RecordedTree(QObject):
    """The recorded D-Bus tree behind the VeQuickItem stand-in: what the pages read and write."""

    revisionChanged = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._revision = 0
        self.prefix = ""
        self.items: dict[str, Any] = {}
        self.read: set[str] = set()
        self.missing: set[str] = set()
        self.writes: list[tuple[str, Any]] = []

    def load(self, service_uid: str, items: dict[str, Any]) -> None:
        self.prefix, self.items = service_uid, dict(items)
        self.read.clear()
        self.missing.clear()
        self.writes.clear()
        self._bump()

    def _bump(self) -> None:
        self._revision += 1
        self.revisionChanged.emit()

    def _path(self, uid: str) -> str | None:
        if not uid.startswith(self.prefix + "/"):
            self.missing.add(uid)
            return None
        return uid[len(self.prefix):]

    @Property(int, notify=revisionChanged)
    def revision(self) -> int:
        return self._revision

    @Slot(str, result="QVariant")
    def value(self, uid: str) -> Any:
        if not uid:
            return None
        path = self._path(uid)
        if path is None:
            return None
        if path not in self.items:
            self.missing.add(path)
            return None
        self.read.add(path)
        return self.items[path]

    @Slot(str, "QVariant", result=int)
    def setValue(self, uid: str, value: Any) -> int:  # noqa: N802 - the name VeQuickItem gives it
        path = self._path(uid)
        if path is None or path not in self.items:
            return 1
        self.writes.append((path, value))
        self.items[path] = value
        self._bump()
        return 0




def screenshots() -> list[Path]:
    """The README's screenshots, from the recorded tree, in English; the Packs page's from the group's."""
    renderer = Renderer()
    rendered = renderer.render(json.loads(TREE.read_text()), SCREENSHOTS)
    images = list(rendered.images.values())
    packs = renderer.open(json.loads(GROUP_TREE.read_text()), "PagePacks.qml")
    images.append(renderer.grab(packs, SCREENSHOTS / "gui-packs.png"))
    if rendered.warnings or renderer.warnings:
        raise SystemExit("QML warnings:\n" + "\n".join(rendered.warnings + renderer.warnings))
    return images


def main(argv: list[str]) -> int:
    commands = {"build": lambda: print(build()), "lupdate": lupdate,
                "screenshots": lambda: print("\n".join(map(str, screenshots())))}
    if len(argv) != 1 or argv[0] not in commands:
        print(__doc__, file=sys.stderr)
        return 2
    commands[argv[0]]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
