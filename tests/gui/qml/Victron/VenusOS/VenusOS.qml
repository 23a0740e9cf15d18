// Stand-in for gui-v2's VenusOS enums (src/enums.h, victronenergy/gui-v2 2ffcc3cb): the values of
// Units_Type and Alarm_Level that the dbus-bms pages name, with the numbers enums.h gives them.
import QtQml

QtObject {
	enum Units_Type {
		Units_None = 0,
		Units_Amp = 1,
		Units_AmpHour = 2,
		Units_Percentage = 20,
		Units_Temperature_Celsius = 27,
		Units_Volt_DC = 37
	}

	enum Alarm_Level {
		Alarm_Level_OK = 0,
		Alarm_Level_Warning = 1,
		Alarm_Level_Alarm = 2
	}
}
