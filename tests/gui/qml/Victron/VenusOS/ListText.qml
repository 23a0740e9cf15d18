// Stand-in for gui-v2 components/listitems/core/ListText.qml (victronenergy/gui-v2 2ffcc3cb):
// dataItem, secondaryText (the dataItem's value by default), secondaryTextColor.
import QtQuick

ListSetting {
	id: root

	readonly property alias dataItem: dataItem
	property string secondaryText: dataItem.valid ? dataItem.value : ""
	property color secondaryTextColor: Theme.color_listItem_secondaryText

	contentItem: ThreeLabelLayout {
		implicitWidth: Theme.geometry_listItem_width
		primaryText: root.text
		secondaryText: root.secondaryText
		secondaryLabel.color: root.secondaryTextColor
		captionText: root.caption
	}

	VeQuickItem {
		id: dataItem
	}
}
