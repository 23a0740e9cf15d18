// What dbus-bms's charge control decided for one battery, and why: the stage, each limit with the
// reason that binds it, the absorption clock, the last full charge, the fail-safe and the link.
import QtQuick
import Victron.VenusOS

DeviceListPluginPage {
	id: root

	readonly property string bindPrefix: root.device.serviceUid
	// /State as dbus-bms publishes it: 10 while the fail-safe holds the limits.
	readonly property int stateFailSafe: 10

	// A duration in seconds as days, hours and minutes, to the minute.
	function duration(seconds) {
		const minutes = Math.floor(seconds / 60)
		const days = Math.floor(minutes / 1440)
		const hours = Math.floor((minutes % 1440) / 60)
		if (days > 0) {
			//: %1 = days, %2 = hours
			//% "%1 d %2 h"
			return qsTrId("dbus_bms_duration_days").arg(days).arg(hours)
		}
		if (hours > 0) {
			//: %1 = hours, %2 = minutes
			//% "%1 h %2 min"
			return qsTrId("dbus_bms_duration_hours").arg(hours).arg(minutes % 60)
		}
		//: %1 = minutes
		//% "%1 min"
		return qsTrId("dbus_bms_duration_minutes").arg(minutes)
	}

	//% "Charge control"
	title: qsTrId("dbus_bms_charge_title")

	GradientListView {
		model: VisibleItemModel {
			ListText {
				//: The charge stage: bulk, absorption, float
				//% "Mode"
				text: qsTrId("dbus_bms_charge_mode")
				dataItem.uid: root.bindPrefix + "/Info/ChargeMode"
			}
			ListQuantity {
				//% "Charge voltage limit (CVL)"
				text: qsTrId("dbus_bms_charge_cvl")
				dataItem.uid: root.bindPrefix + "/Info/MaxChargeVoltage"
				unit: VenusOS.Units_Volt_DC
				decimals: 2
				caption: modeItem.valid ? modeItem.value : ""

				VeQuickItem {
					id: modeItem
					uid: root.bindPrefix + "/Info/ChargeMode"
				}
			}
			ListQuantity {
				//% "Charge current limit (CCL)"
				text: qsTrId("dbus_bms_charge_ccl")
				dataItem.uid: root.bindPrefix + "/Info/MaxChargeCurrent"
				unit: VenusOS.Units_Amp
				decimals: 1
				caption: chargeReason.valid ? chargeReason.value : ""

				VeQuickItem {
					id: chargeReason
					uid: root.bindPrefix + "/Info/ChargeLimitation"
				}
			}
			ListQuantity {
				//% "Discharge current limit (DCL)"
				text: qsTrId("dbus_bms_charge_dcl")
				dataItem.uid: root.bindPrefix + "/Info/MaxDischargeCurrent"
				unit: VenusOS.Units_Amp
				decimals: 1
				caption: dischargeReason.valid ? dischargeReason.value : ""

				VeQuickItem {
					id: dischargeReason
					uid: root.bindPrefix + "/Info/DischargeLimitation"
				}
			}
			ListText {
				//% "Time in absorption"
				text: qsTrId("dbus_bms_charge_absorption")
				dataItem.uid: root.bindPrefix + "/Info/AbsorptionTime"
				secondaryText: dataItem.valid ? root.duration(dataItem.value)
					  //% "Not in absorption"
					: qsTrId("dbus_bms_charge_absorption_none")
			}
			ListText {
				//% "Last full charge"
				text: qsTrId("dbus_bms_charge_last_full")
				dataItem.uid: root.bindPrefix + "/History/TimeSinceLastFullCharge"
				secondaryText: dataItem.valid
					  //: %1 = how long ago, as "3 h 12 min"
					  //% "%1 ago"
					? qsTrId("dbus_bms_charge_ago").arg(root.duration(dataItem.value))
					  //% "None seen yet"
					: qsTrId("dbus_bms_charge_last_full_none")
			}
			ListText {
				//% "Fail-safe"
				text: qsTrId("dbus_bms_charge_failsafe")
				dataItem.uid: root.bindPrefix + "/State"
				secondaryText: !dataItem.valid ? "--"
					: dataItem.value === root.stateFailSafe
					  //% "Active"
					? qsTrId("dbus_bms_charge_failsafe_active")
					  //% "Not active"
					: qsTrId("dbus_bms_charge_failsafe_inactive")
				secondaryTextColor: dataItem.value === root.stateFailSafe ? Theme.color_critical : Theme.color_listItem_secondaryText
				caption: dataItem.value === root.stateFailSafe
					  //% "The BMS's readings are stale or not trusted: no charging, discharge limited."
					? qsTrId("dbus_bms_charge_failsafe_caption")
					: ""
			}
			ListText {
				//% "Link"
				text: qsTrId("dbus_bms_charge_link")
				dataItem.uid: root.bindPrefix + "/Mgmt/LinkQuality"
				//: %1 = the share of the last polls that brought a reading, in percent
				//% "%1 % of polls answered"
				secondaryText: dataItem.valid ? qsTrId("dbus_bms_charge_link_quality").arg(dataItem.value) : "--"
				caption: connectionItem.valid ? connectionItem.value : ""

				VeQuickItem {
					id: connectionItem
					uid: root.bindPrefix + "/Mgmt/Connection"
				}
			}
		}
	}
}
