"""The simulated JK's 300-byte records, as the daemon decodes them."""

from __future__ import annotations

import pytest

from dbus_bms.protocols import jk02
from dbus_bms.sim.jk_records import JkRecordSimulator
from dbus_bms.sim.pack import SimPack


@pytest.mark.parametrize("layout", ["32s", "24s"])
def test_a_simulated_jk_sends_its_state_of_health(layout):
    # A real JK always fills the byte; 0 there would read as a dead pack, not as "not sent".
    sim = JkRecordSimulator(SimPack(cells=16, seed=3), layout=layout)
    record = sim.cell_info()
    start = record.index(jk02.HEADER)
    sample = jk02.decode_cell_info(record[start:start + jk02.RECORD_LEN], layout)
    assert sample.soh == 100 and len(sample.cell_voltages) == 16
