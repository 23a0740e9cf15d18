"""Transports move bytes (serial, BLE, TCP); they know nothing of any BMS family."""
