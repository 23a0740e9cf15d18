// Stand-in for gui-v2's Device (src/device.h and src/basedevice.h, victronenergy/gui-v2 2ffcc3cb):
// the properties a device-list plugin page gets from DevicePage.
import QtQml

QtObject {
	property string serviceUid
	property int productId
	property string name
}
