// Stand-in for gui-v2 components/Page.qml (victronenergy/gui-v2 2ffcc3cb): title and background.
import QtQuick

FocusScope {
	property string title
	property color backgroundColor: Theme.color_page_background

	implicitWidth: Theme.geometry_screen_width
	implicitHeight: Theme.geometry_screen_height

	Rectangle {
		anchors.fill: parent
		color: parent.backgroundColor
		z: -1
	}
}
