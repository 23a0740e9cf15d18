"""The JK record assembler on what BLE really delivers: records in pieces, several per notification,
the module's ``AT\\r\\n``, write acknowledgements and corrupt records between them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dbus_bms.protocols import jk02
from dbus_bms.protocols.errors import ProtocolError
from dbus_bms.protocols.framing import drain

from ..conftest import load_fixture

FRAMES = {
    f["id"]: f
    for name in ("jk_ble_jk02_24s.json", "jk_ble_jk02_32s.json", "jk_ble_jk04.json")
    for f in load_fixture(name)["frames"]
}
AT = b"AT\r\n"
# The BMS's acknowledgement of a write; aiobmsble's mock and the batmon-ha capture both show it.
ACK = bytes.fromhex(FRAMES["mppsolar-jk02-setChargingOn-tr5"]["response_hex"])
RECORDS = [
    bytes.fromhex(f["response_hex"])[: jk02.RECORD_LEN]
    for f in FRAMES.values()
    if f["response_hex"].startswith(jk02.HEADER.hex()) and f["checksum_ok"]
]
CELL_24S = bytes.fromhex(FRAMES["aiobmsble-JK02_24S-cellinfo"]["response_hex"])
CELL_32S = bytes.fromhex(FRAMES["esphome-jk_bms_ble-frames_jk02_32s_v19-CELL_INFO_JK02_32S_V19"]["response_hex"])
DEV_32S = bytes.fromhex(FRAMES["batmon-issue377-FRAME_03_DEVINFO"]["response_hex"])


def collect(chunks: list[bytes]) -> tuple[list[bytes], int, jk02.RecordAssembler]:
    """(records, errors, assembler) after feeding ``chunks`` one by one, draining after each."""
    asm = jk02.RecordAssembler()
    records, errors = [], 0
    for chunk in chunks:
        asm.feed(chunk)
        for item in drain(asm):
            if isinstance(item, ProtocolError):
                errors += 1
            else:
                records.append(item)
    return records, errors, asm


def test_the_ack_frame_is_the_documented_20_bytes():
    assert len(ACK) == 20 and ACK[:5] == jk02.COMMAND_HEADER + b"\xc8" and ACK[-1] == jk02.checksum(ACK[:-1])


@pytest.mark.parametrize("frame_id", [k for k, f in FRAMES.items() if f.get("chunks_hex")])
def test_aiobmsble_notifications_reassemble(frame_id):
    f = FRAMES[frame_id]  # the mock's split: AT\r\n alone, then AT\r\n and the record in 128-byte pieces
    chunks = [bytes.fromhex(c) for c in f["chunks_hex"]]
    records, errors, asm = collect(chunks)
    assert records == [bytes.fromhex(f["response_hex"])] and errors == 0
    assert asm.discarded_bytes == sum(map(len, chunks)) - jk02.RECORD_LEN == 2 * len(AT)


def test_settings_record_with_the_ack_glued_on_comes_out_and_the_ack_is_dropped():
    f = FRAMES["batmon-jk_legacy_8s_fw_pre11-settings"]  # 320 bytes: the record, then the ack
    data = bytes.fromhex(f["response_hex"])
    assert data[jk02.RECORD_LEN :] == ACK
    records, errors, asm = collect([data, CELL_24S])
    assert records == [data[: jk02.RECORD_LEN], CELL_24S] and errors == 0
    assert asm.discarded_bytes == len(ACK)


def test_acks_and_at_between_records_are_dropped_and_counted_without_losing_a_record():
    # The order the aiobmsble mock and the batmon-ha capture (#377) show: AT, record, ack + "DAT\r\n".
    junk_before, junk_between = AT, ACK + b"D" + AT
    records, errors, asm = collect([junk_before + DEV_32S + junk_between + CELL_32S])
    assert records == [DEV_32S, CELL_32S] and errors == 0
    assert asm.discarded_bytes == len(junk_before) + len(junk_between)


def test_two_records_in_one_notification():
    records, errors, _ = collect([DEV_32S + CELL_32S])
    assert records == [DEV_32S, CELL_32S] and errors == 0


def test_bad_checksum_raises_then_the_next_record_still_comes_out():
    bad = bytes.fromhex(FRAMES["batmon-issue377-CORRUPT_FRAME_02"]["response_hex"])
    asm = jk02.RecordAssembler()
    asm.feed(bad + AT + CELL_32S)
    with pytest.raises(ProtocolError):
        asm.next_frame()
    assert asm.next_frame() == CELL_32S
    assert asm.next_frame() is None


def test_a_record_cut_short_does_not_swallow_the_record_after_it():
    short = bytes.fromhex(FRAMES["mppsolar-jk02-getCellData-tr3"]["response_hex"])  # 299 bytes in the source
    assert len(short) == jk02.RECORD_LEN - 1
    records, errors, _ = collect([short + CELL_24S])
    assert records == [CELL_24S] and errors == 1


@given(
    st.lists(st.sampled_from(RECORDS), min_size=1, max_size=4),
    st.lists(st.sampled_from([b"", AT, ACK, ACK + b"D" + AT]), min_size=5, max_size=5),
    st.lists(st.integers(0, 1700), max_size=12),
)
def test_records_between_junk_survive_any_split(records, junks, cuts):
    stream = junks[0] + b"".join(r + j for r, j in zip(records, junks[1:]))
    points = sorted({min(c, len(stream)) for c in cuts})
    chunks = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)])]
    out, errors, asm = collect(chunks)
    assert out == records and errors == 0
    assert asm.discarded_bytes == len(stream) - sum(map(len, records))
    assert not asm.buf
