"""Devices: one BMS = codec + transport + poll plan. ``registry`` maps config ``type:`` to them."""
