"""The Train tab's augmentation: the preset, the strengths (empty: the preset's), the note of
the quick recipe and the samples of one of the person's photos."""
from __future__ import annotations

from core.data.augmentation import PRESETS, STRENGTHS
from core.data.dataset import scan_dataset
from core.training.config import TrainConfig
from gui.engine import EngineInfo
from gui.panels.runs.runs_panel import augmentation_text
from gui.panels.train.augment_preview import AugmentPreview
from gui.panels.train.setting_editors import StrengthBox, select
from gui.panels.train.train_panel import TrainingPanel
from gui.settings import TRAIN, Settings
from tests.fakes import noise_photo


def _dataset(tmp_path):
    for cls in ("bird", "plane"):
        for i in range(4):
            (tmp_path / "data" / cls).mkdir(parents=True, exist_ok=True)
            noise_photo(tmp_path / "data" / cls / f"{i}.png", seed=i + 10 * (cls == "plane"), size=48)
    return scan_dataset(str(tmp_path / "data"))


def _ready_form(qtbot, settings=None):
    tp = TrainingPanel(settings or Settings())
    qtbot.addWidget(tp)
    tp.form.set_engine(EngineInfo(devices=[("cpu", "CPU")], architectures={}, seconds=0.0))
    return tp


def _finish(qtbot, tp) -> None:
    from gui.background import running_threads

    qtbot.waitUntil(lambda: not tp.form.augment_preview.pool.is_busy(), timeout=30000)
    assert tp.form.shutdown(30000)
    qtbot.waitUntil(lambda: not running_threads(), timeout=30000)     # set_engine's weights check


def test_the_strip_shows_samples_of_a_photo_and_follows_the_settings(qtbot, tmp_path):
    tp = _ready_form(qtbot)
    form = tp.form
    form.apply_config(TrainConfig(recipe="custom", arch="small_cnn", device="cpu", augment="none"))
    preview = form.augment_preview
    assert preview.shown() == 0 and "Choose a folder" in preview.caption.text()
    tp.set_dataset(_dataset(tmp_path))
    qtbot.waitUntil(lambda: preview.shown() == AugmentPreview.COUNT, timeout=30000)
    assert "no augmentation" in preview.caption.text()
    before = [label.pixmap().toImage() for label in preview.pictures]
    assert all(image == before[0] for image in before)          # none: the same picture each time
    select(form.fields["augment"], "strong")
    qtbot.waitUntil(lambda: preview.pictures[0].pixmap().toImage() != before[0], timeout=30000)
    qtbot.waitUntil(lambda: preview.shown() == AugmentPreview.COUNT, timeout=30000)
    after = [label.pixmap().toImage() for label in preview.pictures]
    assert len({bytes(image.constBits()) for image in after}) > 1   # each a random draw
    assert "random draws" in preview.caption.text()
    form.fields["rotation"].set_strength(90.0)                  # a strength: drawn again
    assert preview._key[1].rotation == 90.0
    _finish(qtbot, tp)


def test_an_unreadable_photo_is_said_under_the_strip(qtbot, tmp_path):
    tp = _ready_form(qtbot)
    form = tp.form
    form.apply_config(TrainConfig(recipe="custom", arch="small_cnn", device="cpu", augment="light"))
    dataset = _dataset(tmp_path)
    with open(dataset.train[0].path, "wb") as f:
        f.write(b"not a photo any more")
    tp.set_dataset(dataset)
    qtbot.waitUntil(lambda: "cannot be shown" in form.augment_preview.caption.text(), timeout=30000)
    assert form.augment_preview.shown() == 0
    _finish(qtbot, tp)


def test_strengths_are_empty_for_the_preset_or_a_number(qtbot):
    tp = TrainingPanel(Settings())
    qtbot.addWidget(tp)
    form = tp.form
    assert all(isinstance(form.fields[name], StrengthBox) for name in STRENGTHS)
    assert all(form.fields[name].toolTip() for name in STRENGTHS)
    form.apply_config(TrainConfig(recipe="custom", augment="strong", rotation=40.0))
    assert form.fields["rotation"].text() == "40.00°" and form.fields["shift"].text() == "As the preset (0.1)"
    select(form.fields["augment"], "light")
    assert form.fields["shift"].text() == "As the preset (0)"
    select(form.fields["augment"], "strong")
    form.fields["shift"].set_strength(0.0)
    form.fields["rotation"].set_strength(None)
    c = form.config()
    assert (c.augment, c.rotation, c.shift) == ("strong", None, 0.0)
    assert c.augmentation() == PRESETS["strong"].__class__(**{**PRESETS["strong"].__dict__, "shift": 0.0})


def test_quick_shows_no_augmentation_and_says_why_thorough_and_custom_do(qtbot):
    tp = TrainingPanel(Settings())
    qtbot.addWidget(tp)
    form = tp.form
    rows = lambda: {n for n, (_, row) in form.rows.items() if row.isVisibleTo(form)}  # noqa: E731
    form.fields["recipe"].setValue("quick")
    assert "augment" not in rows()
    assert "No augmentation" in form.fields["recipe"].network.text()
    form.fields["recipe"].setValue("thorough")
    assert "augment" in rows() and "No augmentation" not in form.fields["recipe"].network.text()
    form.fields["recipe"].setValue("custom")
    assert "augment" in rows()


def test_settings_kept_when_augmentation_was_on_or_off_load_as_light_or_none(qtbot, tmp_path):
    for old, preset in (("true", "light"), ("false", "none")):
        settings = Settings.in_file(tmp_path / f"{old}.ini")
        settings._store.setValue(TRAIN["recipe"].key, "custom")
        settings._store.setValue(TRAIN["augment"].key, old)
        tp = TrainingPanel(settings)
        qtbot.addWidget(tp)
        assert tp.form.config().augment == preset
        assert tp.form.fields["augment"].currentData() == preset


def test_the_runs_tab_says_the_preset_and_the_strengths_set():
    assert augmentation_text(TrainConfig(recipe="custom", augment=True)) == "light"
    assert augmentation_text(TrainConfig(recipe="custom", augment="strong", rotation=40.0, flip=0.0)) == (
        "strong (mirror 0, rotation 40)")
    assert augmentation_text(TrainConfig(recipe="quick")).startswith("none")


def test_a_strength_of_zero_and_an_unset_one_are_remembered_apart(qtbot, tmp_path):
    settings = Settings.in_file(tmp_path / "fledge.ini")
    tp = TrainingPanel(settings)
    qtbot.addWidget(tp)
    tp.form.apply_config(TrainConfig(recipe="custom", augment="strong", rotation=0.0, grayscale=0.25))
    tp.form.save_settings()
    settings.sync()
    again = TrainingPanel(Settings.in_file(tmp_path / "fledge.ini"))
    qtbot.addWidget(again)
    c = again.form.config()
    assert (c.augment, c.rotation, c.grayscale, c.shift) == ("strong", 0.0, 0.25, None)
