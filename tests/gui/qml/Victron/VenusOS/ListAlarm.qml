// Stand-in for gui-v2 components/listitems/core/ListAlarm.qml (victronenergy/gui-v2 2ffcc3cb): a
// ListText whose secondary text names the alarm level of dataItem (0 OK, 1 warning, 2 alarm).
import QtQuick

ListText {
	secondaryText: {
		switch (dataItem.value) {
		case VenusOS.Alarm_Level_OK: return "OK"
		case VenusOS.Alarm_Level_Warning: return "Warning"
		case VenusOS.Alarm_Level_Alarm: return "Alarm"
		default: return ""
		}
	}
}
