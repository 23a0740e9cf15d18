// Stand-in for gui-v2 components/DeviceListPluginPage.qml (victronenergy/gui-v2 2ffcc3cb): the page
// a device-list plugin integration derives from; DevicePage pushes it with its Device.
import QtQuick

Page {
	required property Device device
}
