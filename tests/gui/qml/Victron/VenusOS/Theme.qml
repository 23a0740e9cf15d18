// Stand-in for gui-v2's Theme singleton (src/theme.h, with the values of themes/color/Dark.json,
// themes/color/ColorDesign.json, themes/geometry/SevenInch.json and themes/typography/*.json;
// victronenergy/gui-v2 2ffcc3cb): only the names the dbus-bms pages and these stand-ins read.
pragma Singleton
import QtQuick

QtObject {
	readonly property color color_ok: "#387DC5"
	readonly property color color_warning: "#F0962E"
	readonly property color color_critical: "#F35C58"
	readonly property color color_green: "#72B84C"
	readonly property color color_lightBlue: "#73A2D3"
	readonly property color color_font_primary: "#FFFFFF"
	readonly property color color_font_secondary: "#969591"
	readonly property color color_page_background: "#000000"
	readonly property color color_listItem_background: "#141414"
	readonly property color color_listItem_secondaryText: "#969591"
	readonly property color color_background_disabled: "#272622"

	readonly property int geometry_screen_width: 1024
	readonly property int geometry_screen_height: 600
	readonly property int geometry_page_content_horizontalMargin: 40
	readonly property int geometry_listItem_width: 944
	readonly property int geometry_listItem_height: 64
	readonly property int geometry_listItem_radius: 8
	readonly property int geometry_listItem_content_horizontalMargin: 24
	readonly property int geometry_listItem_content_verticalMargin: 16
	readonly property int geometry_listItem_content_verticalSpacing: 4
	readonly property int geometry_listItem_content_spacing: 16
	readonly property int geometry_gradientList_spacing: 4
	readonly property int geometry_gradientList_bottomMargin: 16
	readonly property int geometry_listSectionHeader_topPadding: 18
	readonly property int geometry_listSectionHeader_bottomPadding: 8

	readonly property int font_size_caption: 16
	readonly property int font_size_body1: 18
	readonly property int font_size_body2: 22
	readonly property int font_listItem_primary_size: 22
	readonly property int font_listItem_secondary_size: 22
	readonly property int font_listItem_caption_size: 18
}
