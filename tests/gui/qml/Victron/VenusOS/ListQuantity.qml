// Stand-in for gui-v2 components/listitems/core/ListQuantity.qml (with QuantityLabel; victronenergy/
// gui-v2 2ffcc3cb): dataItem, value, unit (VenusOS.Units_Type), decimals, valueColor. The number is
// shown with the unit's symbol; gui-v2's own formatting (Units.getDisplayText) is not modelled.
import QtQuick

ListSetting {
	id: root

	readonly property alias dataItem: dataItem
	property real value: dataItem.valid ? dataItem.value : NaN
	property color valueColor: Theme.color_font_primary
	property int unit: VenusOS.Units_None
	property int decimals: -1

	readonly property string _symbol: {
		switch (unit) {
		case VenusOS.Units_Amp: return "A"
		case VenusOS.Units_AmpHour: return "Ah"
		case VenusOS.Units_Percentage: return "%"
		case VenusOS.Units_Temperature_Celsius: return "°C"
		case VenusOS.Units_Volt_DC: return "V"
		default: return ""
		}
	}

	contentItem: ThreeLabelLayout {
		implicitWidth: Theme.geometry_listItem_width
		primaryText: root.text
		secondaryText: isNaN(root.value) ? "--"
				: (root.decimals >= 0 ? root.value.toFixed(root.decimals) : String(root.value))
					+ (root._symbol.length ? " " + root._symbol : "")
		secondaryLabel.color: root.valueColor
		captionText: root.caption
	}

	VeQuickItem {
		id: dataItem
	}
}
