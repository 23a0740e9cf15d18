// The members of a dbus-bms battery group, one row each: online or not, its reading, its lowest and
// highest cell, its own limits and what binds them. A row opens that member's cells.
import QtQuick
import Victron.VenusOS

DeviceListPluginPage {
	id: root

	readonly property string bindPrefix: root.device.serviceUid
	readonly property int packCount: countItem.valid ? countItem.value : 0

	//% "Packs"
	title: qsTrId("dbus_bms_packs_title")

	VeQuickItem {
		id: countItem
		uid: root.bindPrefix + "/System/NrOfBatteries"
	}

	component PackRow: ListNavigation {
		id: row

		required property int index
		readonly property string packPath: "/Packs/" + (index + 1)
		readonly property string packPrefix: root.bindPrefix + packPath
		// A member's reading is invalid while it is not online: nothing stale is shown as live.
		readonly property bool online: onlineItem.value === 1

		function number(item, decimals) {
			return item.valid ? item.value.toFixed(decimals) : "--"
		}

		text: nameItem.valid ? nameItem.value : packPath
		secondaryText: online
			  //: A member's reading; %1 = volts, %2 = amps, %3 = state of charge in percent
			  //% "%1 V, %2 A, %3 %"
			? qsTrId("dbus_bms_packs_reading").arg(number(voltageItem, 2)).arg(number(currentItem, 1)).arg(number(socItem, 0))
			  //: A member that is not online (in its own fail-safe, or never read)
			  //% "Offline"
			: qsTrId("dbus_bms_packs_offline")
		secondaryTextColor: online ? Theme.color_listItem_secondaryText : Theme.color_critical
		caption: {
			const lines = []
			if (online) {
				//: A member's lowest and highest cell; %1 and %2 = volts
				//% "Cells %1 to %2 V"
				lines.push(qsTrId("dbus_bms_packs_cells").arg(number(lowItem, 3)).arg(number(highItem, 3)))
			}
			//: A member's own charge and discharge current limits; %1 and %2 = amps
			//% "CCL %1 A, DCL %2 A"
			lines.push(qsTrId("dbus_bms_packs_limits").arg(number(cclItem, 1)).arg(number(dclItem, 1)))
			if (limitationItem.valid && limitationItem.value.length > 0) {
				lines.push(limitationItem.value)
			}
			return lines.join("\n")
		}

		onClicked: Global.pageManager.pushPage(Qt.resolvedUrl("PageCells.qml").toString(), {
			device: root.device,
			packPath: row.packPath,
			title: row.text
		})

		VeQuickItem {
			id: nameItem
			uid: row.packPrefix + "/Name"
		}
		VeQuickItem {
			id: onlineItem
			uid: row.packPrefix + "/Online"
		}
		VeQuickItem {
			id: voltageItem
			uid: row.packPrefix + "/Dc/0/Voltage"
		}
		VeQuickItem {
			id: currentItem
			uid: row.packPrefix + "/Dc/0/Current"
		}
		VeQuickItem {
			id: socItem
			uid: row.packPrefix + "/Soc"
		}
		VeQuickItem {
			id: lowItem
			uid: row.packPrefix + "/System/MinCellVoltage"
		}
		VeQuickItem {
			id: highItem
			uid: row.packPrefix + "/System/MaxCellVoltage"
		}
		VeQuickItem {
			id: cclItem
			uid: row.packPrefix + "/Info/MaxChargeCurrent"
		}
		VeQuickItem {
			id: dclItem
			uid: row.packPrefix + "/Info/MaxDischargeCurrent"
		}
		VeQuickItem {
			id: limitationItem
			uid: row.packPrefix + "/Info/ChargeLimitation"
		}
	}

	GradientListView {
		model: VisibleItemModel {
			ListText {
				//% "Packs online"
				text: qsTrId("dbus_bms_packs_online")
				dataItem.uid: root.bindPrefix + "/System/NrOfModulesOnline"
				//: %1 = members online, %2 = members in the group
				//% "%1 of %2"
				secondaryText: dataItem.valid ? qsTrId("dbus_bms_packs_online_count").arg(dataItem.value).arg(root.packCount) : "--"
				secondaryTextColor: dataItem.valid && dataItem.value < root.packCount ? Theme.color_warning
					: Theme.color_listItem_secondaryText
			}
			SettingsColumn {
				width: parent ? parent.width : 0

				Repeater {
					model: root.packCount
					delegate: PackRow {}
				}
			}
		}
	}
}
