// Stand-in for gui-v2 components/controls/Label.qml (victronenergy/gui-v2 2ffcc3cb).
import QtQuick
import QtQuick.Templates as T

T.Label {
	color: Theme.color_font_primary
	font.pixelSize: Theme.font_size_body1
}
