// The cells of one dbus-bms battery: the highest and lowest cell, their difference, which cells
// balance, and every cell as a bar with its voltage.
import QtQuick
import Victron.VenusOS

DeviceListPluginPage {
	id: root

	readonly property string bindPrefix: root.device.serviceUid
	readonly property int cellCount: cellCountItem.valid ? cellCountItem.value : 0
	readonly property real lowest: lowestItem.valid ? lowestItem.value : NaN
	readonly property real highest: highestItem.valid ? highestItem.value : NaN
	// The bars span the pack's own spread plus a margin each side: across the cells' whole range a
	// few millivolts between them would not show.
	readonly property real margin: Math.max(0.005, (highest - lowest) / 2)
	readonly property real scaleFrom: lowest - margin
	readonly property real scaleTo: highest + margin
	readonly property var balancingCells: {
		const cells = []
		for (let i = 0; i < balanceItems.count; ++i) {
			const item = balanceItems.objectAt(i)
			if (item && item.valid && item.value === 1) {
				cells.push("C" + (i + 1))
			}
		}
		return cells
	}

	//% "Cells"
	title: qsTrId("dbus_bms_cells_title")

	VeQuickItem {
		id: cellCountItem
		uid: root.bindPrefix + "/System/NrOfCellsPerBattery"
	}
	VeQuickItem {
		id: lowestItem
		uid: root.bindPrefix + "/System/MinCellVoltage"
	}
	VeQuickItem {
		id: highestItem
		uid: root.bindPrefix + "/System/MaxCellVoltage"
	}
	VeQuickItem {
		id: lowestIdItem
		uid: root.bindPrefix + "/System/MinVoltageCellId"
	}
	VeQuickItem {
		id: highestIdItem
		uid: root.bindPrefix + "/System/MaxVoltageCellId"
	}
	Instantiator {
		id: balanceItems
		model: root.cellCount
		delegate: VeQuickItem {
			required property int index
			uid: root.bindPrefix + "/Balances/Cell" + (index + 1)
		}
	}

	component CellBar: Item {
		id: bar

		required property int index
		readonly property string cellId: "C" + (index + 1)
		readonly property real voltage: voltageItem.valid ? voltageItem.value : NaN
		readonly property bool isHighest: highestIdItem.value === cellId
		// With every cell at one voltage the BMS may name one cell both: it is marked highest.
		readonly property bool isLowest: lowestIdItem.value === cellId && !isHighest
		readonly property bool balancing: root.balancingCells.indexOf(cellId) >= 0
		readonly property real fill: isNaN(voltage) || !(root.scaleTo > root.scaleFrom) ? 0
				: Math.max(0, Math.min(1, (voltage - root.scaleFrom) / (root.scaleTo - root.scaleFrom)))

		implicitHeight: voltageLabel.implicitHeight + Theme.geometry_listItem_content_verticalSpacing * 2

		VeQuickItem {
			id: voltageItem
			uid: root.bindPrefix + "/Voltages/Cell" + (bar.index + 1)
		}
		Label {
			id: nameLabel
			anchors.verticalCenter: parent.verticalCenter
			width: Theme.font_size_body1 * 2.5
			text: bar.cellId
			color: Theme.color_font_secondary
		}
		Rectangle {
			id: track
			anchors {
				left: nameLabel.right
				right: voltageLabel.left
				rightMargin: Theme.geometry_listItem_content_verticalMargin
				verticalCenter: parent.verticalCenter
			}
			height: voltageLabel.implicitHeight * 0.7
			radius: height / 4
			color: Theme.color_background_disabled

			Rectangle {
				width: parent.width * bar.fill
				height: parent.height
				radius: parent.radius
				color: bar.isHighest ? Theme.color_warning : bar.isLowest ? Theme.color_lightBlue : Theme.color_ok
			}
		}
		Label {
			id: voltageLabel
			anchors {
				right: markLabel.left
				verticalCenter: parent.verticalCenter
			}
			width: Theme.font_size_body1 * 4
			horizontalAlignment: Text.AlignRight
			//: A cell's voltage; %1 = the voltage in volts
			//% "%1 V"
			text: isNaN(bar.voltage) ? "--" : qsTrId("dbus_bms_cells_volts").arg(bar.voltage.toFixed(3))
		}
		Label {
			id: markLabel
			anchors {
				right: balanceDot.left
				verticalCenter: parent.verticalCenter
			}
			width: Theme.font_size_body1 * 3.5
			horizontalAlignment: Text.AlignHCenter
			color: bar.isHighest ? Theme.color_warning : Theme.color_lightBlue
			text: bar.isHighest
				  //: Marks the highest cell
				  //% "max"
				? qsTrId("dbus_bms_cells_mark_max")
				: bar.isLowest
				  //: Marks the lowest cell
				  //% "min"
				  ? qsTrId("dbus_bms_cells_mark_min")
				  : ""
		}
		Rectangle {
			id: balanceDot
			anchors {
				right: parent.right
				verticalCenter: parent.verticalCenter
			}
			width: voltageLabel.implicitHeight * 0.5
			height: width
			radius: width / 2
			color: bar.balancing ? Theme.color_green : "transparent"
			border.color: bar.balancing ? Theme.color_green : Theme.color_background_disabled
		}
	}

	GradientListView {
		model: VisibleItemModel {
			ListQuantity {
				//: %1 = the cell's name, as C12
				//% "Highest cell (%1)"
				text: qsTrId("dbus_bms_cells_highest").arg(highestIdItem.valid ? highestIdItem.value : "--")
				dataItem.uid: root.bindPrefix + "/System/MaxCellVoltage"
				unit: VenusOS.Units_Volt_DC
				decimals: 3
			}
			ListQuantity {
				//: %1 = the cell's name, as C3
				//% "Lowest cell (%1)"
				text: qsTrId("dbus_bms_cells_lowest").arg(lowestIdItem.valid ? lowestIdItem.value : "--")
				dataItem.uid: root.bindPrefix + "/System/MinCellVoltage"
				unit: VenusOS.Units_Volt_DC
				decimals: 3
			}
			ListText {
				//: Between the highest and the lowest cell
				//% "Difference"
				text: qsTrId("dbus_bms_cells_difference")
				dataItem.uid: root.bindPrefix + "/Voltages/Diff"
				//: %1 = millivolts
				//% "%1 mV"
				secondaryText: dataItem.valid ? qsTrId("dbus_bms_cells_millivolts").arg(Math.round(dataItem.value * 1000)) : "--"
			}
			ListQuantity {
				//% "Sum of the cells"
				text: qsTrId("dbus_bms_cells_sum")
				dataItem.uid: root.bindPrefix + "/Voltages/Sum"
				unit: VenusOS.Units_Volt_DC
				decimals: 2
			}
			ListText {
				//% "Balancing"
				text: qsTrId("dbus_bms_cells_balancing")
				secondaryText: root.balancingCells.length > 0 ? root.balancingCells.join(", ")
					  //: No cell is balancing
					  //% "None"
					: qsTrId("dbus_bms_cells_balancing_none")
			}
			ListItem {
				id: barsItem
				preferredVisible: root.cellCount > 0

				contentItem: Grid {
					id: grid
					columns: 2
					rows: Math.ceil(root.cellCount / 2)
					flow: Grid.TopToBottom
					columnSpacing: Theme.geometry_listItem_content_horizontalMargin * 2

					Repeater {
						model: root.cellCount
						delegate: CellBar {
							width: (barsItem.availableWidth - grid.columnSpacing) / 2
						}
					}
				}
			}
		}
	}
}
