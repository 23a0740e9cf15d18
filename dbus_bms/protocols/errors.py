"""The one error a codec raises when a device sent garbage."""


class ProtocolError(ValueError):
    """Bad checksum, short or malformed frame: the caller counts it and drops the frame."""
