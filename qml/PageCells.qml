// The cells of one dbus-bms battery, or of one member of a battery group: the highest and lowest
// cell, their difference, which cells balance, and every cell as a bar with its voltage.
import QtQuick
import Victron.VenusOS

DeviceListPluginPage {
	id: root

	// A member of a group: its "/Packs/<k>" on the group's service; empty for the battery itself.
	property string packPath
	readonly property bool isPack: packPath.length > 0
	readonly property string bindPrefix: root.device.serviceUid + packPath
	// A group has no string of cells of its own: its members' are on the Packs page.
	readonly property bool isGroup: !isPack && batteriesItem.valid && batteriesItem.value > 1
	// A member has no cell count, cell names or sum of its own on the service: they come from its cells.
	readonly property int cellCount: isGroup ? 0 : isPack ? packCells.cells : cellCountItem.valid ? cellCountItem.value : 0
	readonly property string highestId: isPack ? packCells.idOf(highest) : highestIdItem.valid ? highestIdItem.value : ""
	readonly property string lowestId: isPack ? packCells.idOf(lowest) : lowestIdItem.valid ? lowestIdItem.value : ""
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
		id: batteriesItem
		uid: root.isPack ? "" : root.bindPrefix + "/System/NrOfBatteries"
	}
	VeQuickItem {
		id: cellCountItem
		uid: root.isPack ? "" : root.bindPrefix + "/System/NrOfCellsPerBattery"
	}
	Instantiator {
		id: packCells

		// The most cells a member's cell paths are looked for; its count is up to its first cell not valid.
		readonly property int most: 48
		readonly property int cells: {
			let n = 0
			while (n < count && objectAt(n) && objectAt(n).valid) {
				++n
			}
			return n
		}

		// The first cell at ``voltage``, as the daemon names a battery's highest and lowest cell.
		function idOf(voltage) {
			for (let i = 0; i < cells; ++i) {
				if (objectAt(i).value === voltage) {
					return "C" + (i + 1)
				}
			}
			return ""
		}

		model: root.isPack ? most : 0
		delegate: VeQuickItem {
			required property int index
			uid: root.bindPrefix + "/Voltages/Cell" + (index + 1)
		}
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
		uid: root.isPack ? "" : root.bindPrefix + "/System/MinVoltageCellId"
	}
	VeQuickItem {
		id: highestIdItem
		uid: root.isPack ? "" : root.bindPrefix + "/System/MaxVoltageCellId"
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
		readonly property bool isHighest: root.highestId === cellId
		// With every cell at one voltage the BMS may name one cell both: it is marked highest.
		readonly property bool isLowest: root.lowestId === cellId && !isHighest
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
			ListNavigation {
				//: On a battery group's Cells page; %1 = the number of packs
				//% "A group of %1 packs: their cells are under Packs"
				text: qsTrId("dbus_bms_cells_group").arg(batteriesItem.value)
				preferredVisible: root.isGroup
				onClicked: Global.pageManager.pushPage(Qt.resolvedUrl("PagePacks.qml").toString(), {device: root.device})
			}
			ListQuantity {
				//: %1 = the cell's name, as C12
				//% "Highest cell (%1)"
				text: qsTrId("dbus_bms_cells_highest").arg(root.highestId || "--")
				dataItem.uid: root.bindPrefix + "/System/MaxCellVoltage"
				unit: VenusOS.Units_Volt_DC
				decimals: 3
			}
			ListQuantity {
				//: %1 = the cell's name, as C3
				//% "Lowest cell (%1)"
				text: qsTrId("dbus_bms_cells_lowest").arg(root.lowestId || "--")
				dataItem.uid: root.bindPrefix + "/System/MinCellVoltage"
				unit: VenusOS.Units_Volt_DC
				decimals: 3
			}
			ListText {
				//: Between the highest and the lowest cell
				//% "Difference"
				text: qsTrId("dbus_bms_cells_difference")
				// A group's and a member's from their highest and lowest cell: neither has a difference of its own.
				readonly property real volts: root.isPack || root.isGroup ? root.highest - root.lowest
					: dataItem.valid ? dataItem.value : NaN
				dataItem.uid: root.isPack ? "" : root.bindPrefix + "/Voltages/Diff"
				//: %1 = millivolts
				//% "%1 mV"
				secondaryText: isNaN(volts) ? "--" : qsTrId("dbus_bms_cells_millivolts").arg(Math.round(volts * 1000))
			}
			ListQuantity {
				//% "Sum of the cells"
				text: qsTrId("dbus_bms_cells_sum")
				// A member's voltage is on the Packs page; a group's is its members' mean, not a sum of cells.
				preferredVisible: !root.isPack && !root.isGroup
				dataItem.uid: root.isPack ? "" : root.bindPrefix + "/Voltages/Sum"
				unit: VenusOS.Units_Volt_DC
				decimals: 2
			}
			ListText {
				//% "Balancing"
				text: qsTrId("dbus_bms_cells_balancing")
				preferredVisible: !root.isGroup
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
