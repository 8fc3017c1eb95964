"""The image view fits a large picture into its box and enlarges a small one, within limits."""
from PySide6.QtGui import QColor, QImage

from gui.widgets.image_view import MAX_ENLARGE, ImageView


def _image(w: int, h: int) -> QImage:
    im = QImage(w, h, QImage.Format.Format_RGB32)
    im.fill(QColor("teal"))
    return im


def _shown(view: ImageView):
    pm = view.pixmap()
    return round(pm.width() / pm.devicePixelRatio()), round(pm.height() / pm.devicePixelRatio())


def test_a_large_picture_fits_the_box(qtbot):
    view = ImageView()
    qtbot.addWidget(view)
    view.resize(400, 300)
    view.show()
    view.set_image(_image(2000, 1000))
    w, h = _shown(view)
    assert w <= view.contentsRect().width() and h <= view.contentsRect().height()
    assert abs(w / h - 2.0) < 0.02


def test_a_small_picture_is_enlarged_but_not_beyond_the_limit(qtbot):
    view = ImageView()
    qtbot.addWidget(view)
    view.resize(600, 600)
    view.show()
    view.set_image(_image(128, 128))
    w, h = _shown(view)
    assert w > 128 and w == h and w <= view.contentsRect().width()
    view.set_image(_image(40, 20))
    assert _shown(view) == (40 * MAX_ENLARGE, 20 * MAX_ENLARGE)
