"""The Victron side: the BusItem tree, localsettings, and the battery service."""
