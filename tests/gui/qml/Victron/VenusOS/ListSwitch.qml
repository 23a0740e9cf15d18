// Stand-in for gui-v2 components/listitems/core/ListSwitch.qml (victronenergy/gui-v2 2ffcc3cb):
// dataItem, checked, invertSourceValue, valueTrue/valueFalse, click(); a click writes the toggled
// value to dataItem as gui-v2's toggleDataValue() does.
import QtQuick

ListSetting {
	id: root

	readonly property alias dataItem: dataItem
	property bool checked: invertSourceValue ? dataItem.value === valueFalse : dataItem.value === valueTrue
	property bool invertSourceValue
	property var valueTrue: 1
	property var valueFalse: 0
	property string secondaryText

	signal clicked

	function click() {
		if (!root.checkWriteAccessLevel() || !root.clickable) {
			return
		}
		if (root.invertSourceValue) {
			dataItem.setValue(checked ? valueTrue : valueFalse)
		} else {
			dataItem.setValue(checked ? valueFalse : valueTrue)
		}
		root.clicked()
	}

	interactive: dataItem.uid === "" || dataItem.valid

	contentItem: Item {
		implicitWidth: Theme.geometry_listItem_width
		implicitHeight: Math.max(labels.implicitHeight, track.height)

		ThreeLabelLayout {
			id: labels
			anchors.verticalCenter: parent.verticalCenter
			width: parent.width - track.width - root.spacing
			primaryText: root.text
			secondaryText: root.secondaryText
			captionText: root.caption
		}
		Rectangle {
			id: track
			anchors.right: parent.right
			anchors.verticalCenter: parent.verticalCenter
			width: 64
			height: 32
			radius: height / 2
			color: root.checked ? Theme.color_ok : Theme.color_background_disabled
			Rectangle {
				x: root.checked ? parent.width - width - 4 : 4
				anchors.verticalCenter: parent.verticalCenter
				width: 24
				height: 24
				radius: 12
				color: Theme.color_font_primary
			}
		}
	}

	VeQuickItem {
		id: dataItem
	}
}
