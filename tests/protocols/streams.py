"""What the codec fuzz tests share: a byte stream fed to an assembler in given pieces."""

from __future__ import annotations

from dbus_bms.protocols.framing import Assembler, drain


def frames_in_pieces(rx: Assembler, stream: bytes, cuts: list[int]) -> list[bytes]:
    """The good frames ``rx`` cuts from ``stream`` fed in pieces of the sizes in ``cuts`` (the rest
    in one last piece); the corrupt ones it reports are passed over."""
    frames, at = [], 0
    for cut in [*cuts, len(stream)]:
        rx.feed(stream[at : at + cut])
        at += cut
        frames += [f for f in drain(rx) if isinstance(f, bytes)]
    return frames
