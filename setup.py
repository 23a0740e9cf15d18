from setuptools import find_packages, setup

setup(
    name="dbus-bms",
    version="0.1.0",
    description="Lithium BMSes (JK first) as Victron batteries on D-Bus, with charge control",
    license="MIT",
    python_requires=">=3.11",
    packages=find_packages(include=["dbus_bms", "dbus_bms.*"]),
    install_requires=[
        "bleak>=3.1,<4",
        "bleak-retry-connector>=4.7,<5",
        "dbus-fast>=5.2,<6",
        "pyserial>=3.5",
        "pyserial-asyncio-fast>=0.11",
        "pyyaml>=6.0",
    ],
    extras_require={
        "test": ["pytest>=8", "pytest-asyncio>=0.23", "pytest-xdist>=3.5", "hypothesis>=6.100",
                 "PySide6-Essentials>=6.8,<7"],
        # Builds the gui-v2 plugin and renders its pages (tools/gui_plugin.py).
        "gui": ["PySide6-Essentials>=6.8,<7"],
        "plot": ["matplotlib>=3.7"],
        # Every BLE BMS aiobmsble reads (type: aiobmsble); the library needs Python 3.12.
        "aiobmsble": ['aiobmsble>=0.31,<0.32; python_version >= "3.12"'],
    },
    entry_points={"console_scripts": ["dbus-bms=dbus_bms.cli:main"]},
)
