// Stand-in for gui-v2 components/GradientListView.qml (BaseListView, victronenergy/gui-v2
// 2ffcc3cb): a ListView filling its page.
import QtQuick

ListView {
	anchors.fill: parent
	bottomMargin: Theme.geometry_gradientList_bottomMargin
	clip: true
}
