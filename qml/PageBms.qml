// One battery's BMS as dbus-bms reads it: what it is, its alarms by name, its own protection
// settings, and its charge, discharge and balance switches when the GX may switch them.
import QtQuick
import Victron.VenusOS

DeviceListPluginPage {
	id: root

	readonly property string bindPrefix: root.device.serviceUid
	readonly property var alarms: [
		//% "Low voltage"
		{ path: "/Alarms/LowVoltage", name: qsTrId("dbus_bms_alarm_low_voltage") },
		//% "High voltage"
		{ path: "/Alarms/HighVoltage", name: qsTrId("dbus_bms_alarm_high_voltage") },
		//% "Low cell voltage"
		{ path: "/Alarms/LowCellVoltage", name: qsTrId("dbus_bms_alarm_low_cell_voltage") },
		//% "High cell voltage"
		{ path: "/Alarms/HighCellVoltage", name: qsTrId("dbus_bms_alarm_high_cell_voltage") },
		//% "Low state of charge"
		{ path: "/Alarms/LowSoc", name: qsTrId("dbus_bms_alarm_low_soc") },
		//% "High charge current"
		{ path: "/Alarms/HighChargeCurrent", name: qsTrId("dbus_bms_alarm_high_charge_current") },
		//% "High discharge current"
		{ path: "/Alarms/HighDischargeCurrent", name: qsTrId("dbus_bms_alarm_high_discharge_current") },
		//% "High current"
		{ path: "/Alarms/HighCurrent", name: qsTrId("dbus_bms_alarm_high_current") },
		//% "Cell imbalance"
		{ path: "/Alarms/CellImbalance", name: qsTrId("dbus_bms_alarm_cell_imbalance") },
		//% "High charge temperature"
		{ path: "/Alarms/HighChargeTemperature", name: qsTrId("dbus_bms_alarm_high_charge_temperature") },
		//% "Low charge temperature"
		{ path: "/Alarms/LowChargeTemperature", name: qsTrId("dbus_bms_alarm_low_charge_temperature") },
		//% "High temperature"
		{ path: "/Alarms/HighTemperature", name: qsTrId("dbus_bms_alarm_high_temperature") },
		//% "Low temperature"
		{ path: "/Alarms/LowTemperature", name: qsTrId("dbus_bms_alarm_low_temperature") },
		//% "High internal temperature"
		{ path: "/Alarms/HighInternalTemperature", name: qsTrId("dbus_bms_alarm_high_internal_temperature") },
		//% "Internal failure"
		{ path: "/Alarms/InternalFailure", name: qsTrId("dbus_bms_alarm_internal_failure") },
		//% "Fuse blown"
		{ path: "/Alarms/FuseBlown", name: qsTrId("dbus_bms_alarm_fuse_blown") },
		//% "No readings from the BMS"
		{ path: "/Alarms/BmsCable", name: qsTrId("dbus_bms_alarm_bms_cable") }
	]
	readonly property int activeAlarms: {
		let n = 0
		for (let i = 0; i < alarmRepeater.count; ++i) {
			const row = alarmRepeater.itemAt(i)
			if (row && row.dataItem.valid && row.dataItem.value > 0) {
				++n
			}
		}
		return n
	}

	//% "BMS"
	title: qsTrId("dbus_bms_bms_title")

	VeQuickItem {
		id: hasSettings
		uid: root.bindPrefix + "/Settings/HasSettings"
	}

	GradientListView {
		model: VisibleItemModel {
			ListText {
				//% "Model"
				text: qsTrId("dbus_bms_bms_model")
				dataItem.uid: root.bindPrefix + "/ProductName"
			}
			ListText {
				//% "Firmware"
				text: qsTrId("dbus_bms_bms_firmware")
				dataItem.uid: root.bindPrefix + "/FirmwareVersion"
			}
			ListText {
				//% "Hardware"
				text: qsTrId("dbus_bms_bms_hardware")
				dataItem.uid: root.bindPrefix + "/HardwareVersion"
				preferredVisible: dataItem.valid
			}
			ListText {
				//% "Serial number"
				text: qsTrId("dbus_bms_bms_serial")
				dataItem.uid: root.bindPrefix + "/Serial"
			}

			SectionHeader {
				//% "Alarms"
				text: qsTrId("dbus_bms_bms_alarms")
			}
			ListText {
				//: What the BMS's own alarm and status bits report, in words
				//% "Conditions"
				text: qsTrId("dbus_bms_bms_conditions")
				dataItem.uid: root.bindPrefix + "/Info/BmsConditions"
				secondaryText: !dataItem.valid
					  //: The BMS reports no conditions, or none are known yet
					  //% "Unknown"
					? qsTrId("dbus_bms_bms_conditions_unknown")
					: dataItem.value === ""
					  //% "None"
					  ? qsTrId("dbus_bms_bms_conditions_none")
					  : ""
				caption: dataItem.valid ? dataItem.value : ""
			}
			ListText {
				//% "Active alarms"
				text: qsTrId("dbus_bms_bms_active_alarms")
				//% "None"
				secondaryText: root.activeAlarms === 0 ? qsTrId("dbus_bms_bms_alarms_none") : root.activeAlarms
			}
			SettingsColumn {
				preferredVisible: root.activeAlarms > 0

				Repeater {
					id: alarmRepeater
					model: root.alarms
					delegate: ListAlarm {
						required property var modelData
						text: modelData.name
						dataItem.uid: root.bindPrefix + modelData.path
						preferredVisible: dataItem.valid && dataItem.value > 0
						secondaryTextColor: dataItem.value === VenusOS.Alarm_Level_Alarm ? Theme.color_critical : Theme.color_warning
					}
				}
			}

			SectionHeader {
				//% "The BMS's own settings"
				text: qsTrId("dbus_bms_bms_settings")
			}
			ListQuantity {
				//% "Cell over-voltage protection"
				text: qsTrId("dbus_bms_bms_cell_ovp")
				dataItem.uid: root.bindPrefix + "/Bms/CellOverVoltageProtection"
				preferredVisible: dataItem.valid
				unit: VenusOS.Units_Volt_DC
				decimals: 3
			}
			ListQuantity {
				//% "Cell over-voltage recovery"
				text: qsTrId("dbus_bms_bms_cell_ovp_recovery")
				dataItem.uid: root.bindPrefix + "/Bms/CellOverVoltageRecovery"
				preferredVisible: dataItem.valid
				unit: VenusOS.Units_Volt_DC
				decimals: 3
			}
			ListQuantity {
				//% "Cell under-voltage protection"
				text: qsTrId("dbus_bms_bms_cell_uvp")
				dataItem.uid: root.bindPrefix + "/Bms/CellUnderVoltageProtection"
				preferredVisible: dataItem.valid
				unit: VenusOS.Units_Volt_DC
				decimals: 3
			}
			ListQuantity {
				//% "Cell under-voltage recovery"
				text: qsTrId("dbus_bms_bms_cell_uvp_recovery")
				dataItem.uid: root.bindPrefix + "/Bms/CellUnderVoltageRecovery"
				preferredVisible: dataItem.valid
				unit: VenusOS.Units_Volt_DC
				decimals: 3
			}
			ListQuantity {
				//% "Charge over-current protection"
				text: qsTrId("dbus_bms_bms_charge_ocp")
				dataItem.uid: root.bindPrefix + "/Bms/ChargeOverCurrentProtection"
				preferredVisible: dataItem.valid
				unit: VenusOS.Units_Amp
				decimals: 0
			}
			ListQuantity {
				//% "Discharge over-current protection"
				text: qsTrId("dbus_bms_bms_discharge_ocp")
				dataItem.uid: root.bindPrefix + "/Bms/DischargeOverCurrentProtection"
				preferredVisible: dataItem.valid
				unit: VenusOS.Units_Amp
				decimals: 0
			}
			ListQuantity {
				//% "Charge over-temperature protection"
				text: qsTrId("dbus_bms_bms_charge_otp")
				dataItem.uid: root.bindPrefix + "/Bms/ChargeOverTemperatureProtection"
				preferredVisible: dataItem.valid
				unit: VenusOS.Units_Temperature_Celsius
				decimals: 0
			}
			ListQuantity {
				//% "Charge under-temperature protection"
				text: qsTrId("dbus_bms_bms_charge_utp")
				dataItem.uid: root.bindPrefix + "/Bms/ChargeUnderTemperatureProtection"
				preferredVisible: dataItem.valid
				unit: VenusOS.Units_Temperature_Celsius
				decimals: 0
			}
			ListQuantity {
				//% "Discharge over-temperature protection"
				text: qsTrId("dbus_bms_bms_discharge_otp")
				dataItem.uid: root.bindPrefix + "/Bms/DischargeOverTemperatureProtection"
				preferredVisible: dataItem.valid
				unit: VenusOS.Units_Temperature_Celsius
				decimals: 0
			}
			ListQuantity {
				//% "Discharge under-temperature protection"
				text: qsTrId("dbus_bms_bms_discharge_utp")
				dataItem.uid: root.bindPrefix + "/Bms/DischargeUnderTemperatureProtection"
				preferredVisible: dataItem.valid
				unit: VenusOS.Units_Temperature_Celsius
				decimals: 0
			}
			ListQuantity {
				//% "Balancing starts at"
				text: qsTrId("dbus_bms_bms_balance_start")
				dataItem.uid: root.bindPrefix + "/Bms/BalanceStartVoltage"
				preferredVisible: dataItem.valid
				unit: VenusOS.Units_Volt_DC
				decimals: 3
			}
			ListText {
				//% "Balancing above a difference of"
				text: qsTrId("dbus_bms_bms_balance_trigger")
				dataItem.uid: root.bindPrefix + "/Bms/BalanceTriggerVoltage"
				preferredVisible: dataItem.valid
				//: %1 = millivolts
				//% "%1 mV"
				secondaryText: dataItem.valid ? qsTrId("dbus_bms_bms_millivolts").arg(Math.round(dataItem.value * 1000)) : ""
			}
			ListQuantity {
				//% "Cell count"
				text: qsTrId("dbus_bms_bms_cell_count")
				dataItem.uid: root.bindPrefix + "/Bms/CellCount"
				preferredVisible: dataItem.valid
				decimals: 0
			}
			ListQuantity {
				//% "Nominal capacity"
				text: qsTrId("dbus_bms_bms_nominal_capacity")
				dataItem.uid: root.bindPrefix + "/Bms/NominalCapacity"
				preferredVisible: dataItem.valid
				unit: VenusOS.Units_AmpHour
				decimals: 0
			}

			SectionHeader {
				//% "Switches"
				text: qsTrId("dbus_bms_bms_switches")
				preferredVisible: hasSettings.value === 1
			}
			ListSwitch {
				//% "Charging allowed"
				text: qsTrId("dbus_bms_bms_switch_charge")
				dataItem.uid: root.bindPrefix + "/Settings/ForceChargingOff"
				invertSourceValue: true
				preferredVisible: hasSettings.value === 1
			}
			ListSwitch {
				//% "Discharging allowed"
				text: qsTrId("dbus_bms_bms_switch_discharge")
				dataItem.uid: root.bindPrefix + "/Settings/ForceDischargingOff"
				invertSourceValue: true
				preferredVisible: hasSettings.value === 1
			}
			ListSwitch {
				//% "Balancer on"
				text: qsTrId("dbus_bms_bms_switch_balance")
				dataItem.uid: root.bindPrefix + "/Settings/TurnBalancingOff"
				invertSourceValue: true
				preferredVisible: hasSettings.value === 1
			}
		}
	}
}
