"""Errors a transport raises: the link is gone or cannot be opened."""


class TransportError(OSError):
    """The port cannot be opened, vanished, or was closed under us."""
