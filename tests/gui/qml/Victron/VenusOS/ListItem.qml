// Stand-in for gui-v2 components/listitems/core/ListItem.qml (AbstractListItem, src/abstractlistitem.h;
// victronenergy/gui-v2 2ffcc3cb): a Control with preferredVisible/effectiveVisible, insets and
// padding from the Theme, and the list item background.
import QtQuick
import QtQuick.Templates as T

T.Control {
	id: root

	property bool preferredVisible: true
	property bool effectiveVisible: preferredVisible
	property bool flat
	property int textFormat: Text.AutoText
	readonly property real horizontalContentPadding: Theme.geometry_listItem_content_horizontalMargin

	leftInset: flat ? 0 : Theme.geometry_page_content_horizontalMargin
	rightInset: flat ? 0 : Theme.geometry_page_content_horizontalMargin
	bottomInset: Theme.geometry_gradientList_spacing
	leftPadding: leftInset + horizontalContentPadding
	rightPadding: rightInset + horizontalContentPadding
	topPadding: topInset + Theme.geometry_listItem_content_verticalMargin
	bottomPadding: bottomInset + Theme.geometry_listItem_content_verticalMargin
	implicitWidth: effectiveVisible ? Math.max(implicitBackgroundWidth + leftInset + rightInset,
			implicitContentWidth + leftPadding + rightPadding) : 0
	implicitHeight: effectiveVisible ? Math.max(implicitBackgroundHeight + topInset + bottomInset,
			implicitContentHeight + topPadding + bottomPadding) : 0
	width: parent ? parent.width : Theme.geometry_listItem_width
	spacing: Theme.geometry_listItem_content_spacing
	visible: effectiveVisible
	font.pixelSize: Theme.font_listItem_primary_size

	background: Rectangle {
		visible: !root.flat
		color: Theme.color_listItem_background
		radius: Theme.geometry_listItem_radius
	}
}
