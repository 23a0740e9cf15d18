// Stand-in for gui-v2 components/SettingsColumn.qml (victronenergy/gui-v2 2ffcc3cb): a column of
// list items (a Repeater's too) that VisibleItemModel shows or hides as one.
import QtQuick

Item {
	property bool preferredVisible: true
	property bool effectiveVisible: preferredVisible
	property alias spacing: contentColumn.spacing
	default property alias _data: contentColumn.data

	width: parent ? parent.width : 0
	implicitHeight: effectiveVisible ? contentColumn.implicitHeight : 0
	visible: effectiveVisible

	Column {
		id: contentColumn
		width: parent.width
	}
}
