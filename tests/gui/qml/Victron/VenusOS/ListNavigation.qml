// Stand-in for gui-v2 components/listitems/core/ListNavigation.qml (victronenergy/gui-v2 2ffcc3cb): a
// ListSetting with secondaryText, secondaryTextColor and an arrow to a subpage; click() emits clicked
// while it is interactive, whatever the user's write access, as gui-v2's does.
import QtQuick

ListSetting {
	id: root

	property string secondaryText
	property color secondaryTextColor: Theme.color_listItem_secondaryText

	signal clicked

	function click() {
		if (interactive) {
			clicked()
		}
	}

	interactive: true

	contentItem: Item {
		implicitWidth: Theme.geometry_listItem_width
		implicitHeight: labels.implicitHeight

		ThreeLabelLayout {
			id: labels
			anchors {
				left: parent.left
				right: arrow.left
				rightMargin: root.spacing
				verticalCenter: parent.verticalCenter
			}
			primaryText: root.text
			secondaryText: root.secondaryText
			secondaryLabel.color: root.secondaryTextColor
			captionText: root.caption
		}
		Label {
			id: arrow
			anchors.right: parent.right
			anchors.verticalCenter: parent.verticalCenter
			text: ">"
			color: Theme.color_font_secondary
		}
	}
}
