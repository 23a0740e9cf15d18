"""``type: aiobmsble`` in a config, in an environment with aiobmsble and in one without; and the
README's table of its modules against what tools/aiobmsble-table.py generates."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from dbus_bms.config import ConfigError, parse_config
from dbus_bms.devices.registry import AIOBMSBLE_MODULES

ROOT = Path(__file__).resolve().parents[2]
INSTALLED = importlib.util.find_spec("aiobmsble") is not None


def config(protocol: str | None) -> str:
    line = f"    protocol: {protocol}\n" if protocol else ""
    return f"batteries:\n  - type: aiobmsble\n    address: C0:FF:EE:00:00:01\n{line}"


def refusal(text: str) -> str:
    with pytest.raises(ConfigError) as refused:
        parse_config(text)
    return str(refused.value)


@pytest.mark.skipif(INSTALLED, reason="aiobmsble is installed here: the type is available")
def test_without_aiobmsble_the_type_is_refused_with_what_to_install():
    assert ":2: batteries[0].type: type 'aiobmsble' needs the aiobmsble library" in refusal(config(None))
    assert "pip install 'dbus-bms[aiobmsble]'" in refusal(config(None))


@pytest.mark.skipif(not INSTALLED, reason="aiobmsble is not installed here (it needs Python 3.12)")
def test_with_aiobmsble_a_module_or_auto_is_taken_and_an_unknown_one_refused_with_the_choices():
    assert "tianpwr_bms" in AIOBMSBLE_MODULES and "dummy_bms" not in AIOBMSBLE_MODULES
    assert parse_config(config("tianpwr_bms")).batteries[0].protocol == "tianpwr_bms"
    assert parse_config(config(None)).batteries[0].protocol is None
    text = refusal(config("tianpwr"))
    assert "batteries[0].protocol: type 'aiobmsble' has no protocol 'tianpwr'; choices: auto, abc_bms," in text
    assert "dummy_bms" not in text


@pytest.mark.skipif(not INSTALLED, reason="aiobmsble is not installed here (it needs Python 3.12)")
def test_the_readme_table_is_what_the_tool_generates():
    generated = subprocess.run([sys.executable, str(ROOT / "tools" / "aiobmsble-table.py")], capture_output=True,
                               text=True, check=True).stdout.strip()
    readme = (ROOT / "README.md").read_text()
    assert generated in readme, "README.md's aiobmsble table is stale: run tools/aiobmsble-table.py --write"
    assert len(generated.splitlines()) == len(AIOBMSBLE_MODULES) + 4  # markers and header
