"""Several configured batteries published as one: their readings and limits combined, pure."""

# How a group's packs are wired; the config checks a group's ``wiring`` against these without
# loading the rest of the package, which a config without groups never needs.
WIRINGS = ("parallel", "series")
