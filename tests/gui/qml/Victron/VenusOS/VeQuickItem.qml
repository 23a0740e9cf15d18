// Stand-in for veutil's VeQuickItem (inc/veutil/qt/ve_quick_item.hpp, victronenergy/veutil
// 97c80efd) as gui-v2 2ffcc3cb uses it: uid, value, valid, text, setValue(). Values come from the
// recorded D-Bus tree the test loads into RecordedTree; setValue goes there too.
import QtQml
import DbusBmsGuiTest

QtObject {
	property string uid
	readonly property var value: {
		RecordedTree.revision
		return RecordedTree.value(uid)
	}
	readonly property bool valid: value !== undefined && value !== null
	readonly property string text: valid ? String(value) : "--"

	function setValue(newValue) {
		return RecordedTree.setValue(uid, newValue)
	}
}
