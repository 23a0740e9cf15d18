// Stand-in for gui-v2 Global.qml (victronenergy/gui-v2 2ffcc3cb): its pageManager only. pushPage takes
// a page's URL and its properties, and creates the page as gui-v2's PageStack does (components/
// PageStack.qml: a component with errors is refused with a warning); the test reads the page pushed
// last from currentPage, as the page stack would show it; held there, as by the stack, it is not
// collected.
pragma Singleton
import QtQuick

QtObject {
	property QtObject pageManager: QtObject {
		property var currentPage
		property string currentUrl

		function pushPage(obj, properties) {
			const component = Qt.createComponent(obj)
			if (component.status !== Component.Ready) {
				console.warn("Aborted attempt to push page with errors: " + obj + ": " + component.errorString())
				return null
			}
			currentPage = component.createObject(null, properties)
			currentUrl = obj
			return currentPage
		}
	}
}
