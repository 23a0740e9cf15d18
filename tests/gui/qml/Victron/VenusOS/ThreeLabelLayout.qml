// Stand-in for gui-v2 components/ThreeLabelLayout.qml (victronenergy/gui-v2 2ffcc3cb): primary text
// on the left, secondary text on the right, caption below.
import QtQuick

Item {
	id: root

	property string primaryText
	property string secondaryText
	property string captionText
	property alias primaryLabel: primary
	property alias secondaryLabel: secondary

	implicitHeight: Math.max(primary.implicitHeight, secondary.implicitHeight)
			+ (caption.visible ? caption.implicitHeight + Theme.geometry_listItem_content_verticalSpacing : 0)

	Label {
		id: primary
		anchors.left: parent.left
		width: Math.min(implicitWidth, parent.width - secondary.width - Theme.geometry_listItem_content_spacing)
		text: root.primaryText
		elide: Text.ElideRight
		font.pixelSize: Theme.font_listItem_primary_size
	}
	Label {
		id: secondary
		anchors.right: parent.right
		width: Math.min(implicitWidth, parent.width / 2)
		text: root.secondaryText
		horizontalAlignment: Text.AlignRight
		elide: Text.ElideRight
		color: Theme.color_listItem_secondaryText
		font.pixelSize: Theme.font_listItem_secondary_size
	}
	Label {
		id: caption
		anchors.top: primary.bottom
		anchors.topMargin: Theme.geometry_listItem_content_verticalSpacing
		width: parent.width
		text: root.captionText
		visible: text.length > 0
		wrapMode: Text.Wrap
		color: Theme.color_font_secondary
		font.pixelSize: Theme.font_listItem_caption_size
	}
}
