// Stand-in for gui-v2 components/listitems/core/SectionHeader.qml (PrimaryListLabel,
// victronenergy/gui-v2 2ffcc3cb): a heading between list items.
import QtQuick

Label {
	property bool preferredVisible: true
	property bool effectiveVisible: preferredVisible

	width: parent ? parent.width : 0
	visible: effectiveVisible
	leftPadding: Theme.geometry_page_content_horizontalMargin + Theme.geometry_listItem_content_horizontalMargin
	topPadding: Theme.geometry_listSectionHeader_topPadding
	bottomPadding: Theme.geometry_listSectionHeader_bottomPadding
	color: Theme.color_font_secondary
	font.pixelSize: Theme.font_listItem_primary_size
}
