"""Widgets shown as a user sees them (offscreen): added to qtbot, sized, shown, exposed."""
from __future__ import annotations


def shown(qtbot, widget, width: int = 900, height: int = 600):
    """widget, closed by qtbot at the end of the test, at width x height and painted once."""
    qtbot.addWidget(widget)
    widget.resize(width, height)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def cut_texts(widget) -> list[str]:
    """The visible texts in widget that are cut off or run into another one (empty when none):
    a word-wrapped label lower than its lines, a one-line label narrower than its words, or two
    labels on top of each other."""
    from PySide6.QtCore import QRect
    from PySide6.QtWidgets import QLabel

    labels = [lab for lab in widget.findChildren(QLabel) if lab.isVisible() and lab.text()]
    problems = []
    for lab in labels:
        if lab.wordWrap():
            if lab.height() < lab.heightForWidth(lab.width()):
                problems.append(f"cut off at the bottom: {lab.text()[:60]!r}")
        elif lab.width() < lab.minimumSizeHint().width():
            problems.append(f"cut off at the side: {lab.text()[:60]!r}")
    where = [(lab, QRect(lab.mapTo(widget.window(), lab.rect().topLeft()), lab.size())) for lab in labels]
    for i, (a, ra) in enumerate(where):
        for b, rb in where[i + 1:]:
            if ra.intersects(rb) and not (a.isAncestorOf(b) or b.isAncestorOf(a)):
                problems.append(f"on top of each other: {a.text()[:40]!r} and {b.text()[:40]!r}")
    return problems
