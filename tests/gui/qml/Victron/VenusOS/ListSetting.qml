// Stand-in for gui-v2 components/listitems/core/ListSetting.qml (victronenergy/gui-v2 2ffcc3cb):
// text, caption, interactive and clickable. Access levels are not modelled: every user may write.
import QtQuick

ListItem {
	property string text
	property string caption
	property bool interactive
	readonly property bool clickable: enabled && interactive

	function checkWriteAccessLevel() {
		return true
	}
}
