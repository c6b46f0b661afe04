"""Keyboard and accessibility: every input of the main window has a name a screen reader can say, and
every action of the menus can be reached by keyboard (a shortcut or the menu's mnemonic)."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QComboBox,
    QLineEdit,
    QSlider,
)


def test_inputs_have_accessible_names(window) -> None:
    unnamed = []
    for kind in (QAbstractItemView, QComboBox, QLineEdit, QAbstractSpinBox, QSlider, QAbstractButton):
        for widget in window.findChildren(kind):
            if not widget.isVisibleTo(window) or isinstance(widget.parent(), (QComboBox, QAbstractSpinBox)):
                continue
            text = widget.text() if isinstance(widget, QAbstractButton) else ""
            if not (widget.accessibleName() or text or widget.toolTip()):
                unnamed.append(f"{type(widget).__name__} {widget.objectName()}")
    assert unnamed == []


def test_every_menu_action_is_reachable_by_keyboard(window) -> None:
    menus = [action.menu() for action in window.menuBar().actions()]
    assert all("&" in action.text() for action in window.menuBar().actions())  # Alt+letter opens each menu
    for menu in menus:
        for action in menu.actions():
            if action.isSeparator():
                continue
            assert action.text(), menu.title()  # reachable with the arrows once the menu is open
    shortcuts = {a.text(): a.shortcut().toString() for a in window.findChildren(type(window.open_action))
                 if not a.shortcut().isEmpty()}
    for name in ("Open photo…", "Add photos…", "Equipment history", "Compare with query", "Report of this search…",
                 "Open archive…", "Group by equipment", "Archive browser"):
        assert shortcuts.get(name), name
