"""The one renderer of the GUI tests: a process has one Qt application, and one QML engine for it."""

from __future__ import annotations

import pytest

from .test_plugin import gui_plugin


@pytest.fixture(scope="session")
def renderer():
    return gui_plugin.Renderer()
