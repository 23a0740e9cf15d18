// Stand-in for gui-v2's VisibleItemModel (src/visibleitemmodel.h, victronenergy/gui-v2 2ffcc3cb):
// the list items declared in it; gui-v2 leaves out those whose effectiveVisible is false, here they
// take no height (ListItem's implicit size is 0 when not effectiveVisible, as in gui-v2).
import QtQml.Models

ObjectModel {
}
