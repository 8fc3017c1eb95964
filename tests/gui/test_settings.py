"""The one typed settings object (gui.settings): types, old files, one owner, handed to every tab."""
from __future__ import annotations

import pathlib
import shutil

import pytest

import gui.settings as gs
from gui.settings import (EVALUATE_SPLIT, RECENT_DATASETS, REVIEW_BURSTS, REVIEW_COPY, SORT_CERTAINTY, SORT_MOVE,
                          SORT_OWN_THRESHOLDS, TRAIN, WINDOW_GEOMETRY, Setting, Settings)

ROOT = pathlib.Path(__file__).resolve().parents[2]


def reopened(settings: Settings, tmp_path) -> Settings:
    """The same values as the next start reads them: from the file's text (a copy of it, so
    nothing this process cached is seen)."""
    settings.sync()
    copy = tmp_path / "next-start.ini"
    shutil.copyfile(settings.file_name(), copy)
    return Settings.in_file(copy)


def test_each_setting_comes_back_as_its_type(tmp_path):
    s = Settings.in_file(tmp_path / "fledge.ini")
    s.set(SORT_MOVE, True)
    s.set(SORT_CERTAINTY, 65)
    s.set(RECENT_DATASETS, ["/photos/garden"])              # one item: an INI file keeps a lone string
    s.set(WINDOW_GEOMETRY, b"\x01\x00\xd9\xd0")
    s.set(TRAIN["lr"], 0.003)
    s.set(TRAIN["image_size"], None)                       # optional: None is kept as 0
    again = reopened(s, tmp_path)
    assert again.get(SORT_MOVE) is True
    assert again.get(SORT_CERTAINTY) == 65 and isinstance(again.get(SORT_CERTAINTY), int)
    assert again.get(RECENT_DATASETS) == ["/photos/garden"]
    assert again.get(WINDOW_GEOMETRY) == b"\x01\x00\xd9\xd0"
    assert again.get(TRAIN["lr"]) == pytest.approx(0.003)
    assert again.get(TRAIN["image_size"]) is None
    assert again.has(SORT_MOVE) and not again.has(REVIEW_COPY)
    assert again.get(REVIEW_COPY) is False and again.get(SORT_OWN_THRESHOLDS) is True     # the defaults


def test_settings_an_earlier_fledge_wrote_keep_working(tmp_path):
    """Booleans kept by hand as "true"/"false", numbers as text, under the same keys."""
    ini = tmp_path / "old.ini"
    ini.write_text("[sort]\nmove=true\nown_thresholds=false\nthreshold=90\n"
                   "[review]\ncopy=false\nbursts=true\n[evaluate]\nsplit=test\n", encoding="utf-8")
    s = Settings.in_file(ini)
    assert (s.get(SORT_MOVE), s.get(SORT_OWN_THRESHOLDS), s.get(SORT_CERTAINTY)) == (True, False, 90)
    assert (s.get(REVIEW_COPY), s.get(REVIEW_BURSTS), s.get(EVALUATE_SPLIT)) == (False, True, "test")


def test_a_value_that_is_not_its_type_reads_as_the_default(tmp_path):
    ini = tmp_path / "edited.ini"
    ini.write_text("[sort]\nmove=perhaps\nthreshold=lots\n[train]\nlr=nan\n", encoding="utf-8")
    s = Settings.in_file(ini)
    assert s.get(SORT_MOVE) is SORT_MOVE.default
    assert s.get(SORT_CERTAINTY) == SORT_CERTAINTY.default
    assert s.get(TRAIN["lr"], 0.01) == 0.01


def test_a_list_setting_hands_out_a_copy(tmp_path):
    s = Settings.in_file(tmp_path / "fledge.ini")
    s.get(RECENT_DATASETS).append("/somewhere")
    assert s.get(RECENT_DATASETS) == [] and RECENT_DATASETS.default == []


def test_every_setting_is_declared_once():
    with pytest.raises(ValueError, match="declared twice"):
        Setting(SORT_MOVE.key, bool, False)
    for key, setting in gs.declared().items():
        assert key == setting.key
        assert setting.kind in (bool, int, float, str, list, bytes)
        assert setting.default is None or isinstance(setting.default, setting.kind), key


def test_only_gui_settings_makes_a_qsettings():
    found = [str(p.relative_to(ROOT)) for folder in ("gui", "core") for p in (ROOT / folder).rglob("*.py")
             if "QSettings(" in p.read_text(encoding="utf-8")]
    assert found == ["gui/settings.py"]


def test_every_tab_reads_the_settings_the_window_was_handed(qtbot, tmp_path):
    from gui.main_window import MainWindow

    handed = Settings.in_file(tmp_path / "handed.ini")
    handed.set(SORT_MOVE, True)
    handed.set(SORT_CERTAINTY, 55)
    handed.set(REVIEW_COPY, True)
    handed.set(REVIEW_BURSTS, True)
    handed.set(EVALUATE_SPLIT, "test")
    handed.set(RECENT_DATASETS, ["/photos/a", "/photos/b"])
    w = MainWindow(handed, load_engine_on_show=False)
    qtbot.addWidget(w)
    for key, panel in w.panels.items():
        assert getattr(panel, "settings", handed) is handed, key
    assert w.training_panel.form.settings is handed
    assert w.sort_panel.move_radio.isChecked() and w.sort_panel.certainty.percent() == 55
    assert w.review_panel.copy_box.isChecked() and w.review_panel.bursts.box.isChecked()
    assert w.evaluate_panel.form.split() == "test"
    assert [w.dataset_panel.recent_combo.itemData(i) for i in range(2)] == ["/photos/a", "/photos/b"]
    # What a tab changes goes into the handed settings, not the user's own.
    w.review_panel.copy_box.setChecked(False)
    assert handed.get(REVIEW_COPY) is False
    assert Settings().get(REVIEW_COPY) is False and not Settings().has(REVIEW_COPY)
    w.shutdown()
