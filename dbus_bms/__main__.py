import sys

# Before the import below, which fails on an old Python with an error that names no version (Venus OS
# before v3.60 ships 3.8); written to parse on any Python.
if sys.version_info < (3, 11):
    sys.exit("dbus-bms: this is Python %d.%d; dbus-bms needs 3.11 or later (Venus OS v3.60 and later ship 3.12): "
             "update the GX, or run it with a newer python3" % sys.version_info[:2])

from .cli import main  # noqa: E402 - only once the version is known to be enough

sys.exit(main())
