"""dbus-bms: lithium BMSes as Victron batteries on D-Bus."""

__version__ = "0.1.0"
