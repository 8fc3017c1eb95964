"""Training from the window: the full path, pause/resume, stop, closing mid-run, stalls, past runs.

Tiny data (2 classes x 12 pictures of 32 px) and small_cnn at 32 px keep each run
to a few seconds on two CPU cores.
"""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from core.training.config import TrainConfig
from core.training.events import BatchEnd, EpochEnd, FitStarted, Message
from gui.background import JobPaused, JobResumed, running_threads

TINY = dict(recipe="custom", arch="small_cnn", image_size=32, batch_size=8, device="cpu", augment=False,
            schedule="none")


def window_with_data(make_window, qtbot, folder, **config):
    w = make_window()
    w.open_dataset(str(folder))
    qtbot.waitUntil(lambda: w.training_panel.dataset is not None, timeout=30000)
    w.training_panel.form.apply_config(TrainConfig(**{**TINY, "epochs": 2, **config}))
    assert w.training_panel.start_button.isEnabled(), w.training_panel.start_hint.text()
    return w


def recorder(tp) -> list:
    events: list = []
    tp.runner.progress.connect(events.append)
    return events


def count(events, kind) -> int:
    return sum(isinstance(e, kind) for e in events)


def test_full_training_run_shows_plots_result_and_past_run(qtbot, make_window, two_class_folder):
    w = window_with_data(make_window, qtbot, two_class_folder)
    tp = w.training_panel
    events = recorder(tp)
    with qtbot.waitSignal(tp.run_finished, timeout=120000) as finished:
        assert tp.start()
        assert tp.is_running() and not tp.start_button.isEnabled() and tp.stop_button.isEnabled()
        assert not tp.form_widget.isEnabled()          # settings are locked while training
    ended = finished.args[0]
    assert ended.reason == "completed", ended.message
    assert not running_threads()

    # Both plots hold points: every batch report, and both epochs for train and validation.
    tp.plots.redraw()
    n_batches = count(events, BatchEnd)
    assert n_batches >= 2
    assert len(tp.plots.train_batch_loss.curve.getOriginalDataset()[0]) == n_batches
    for series in (tp.plots.train_loss, tp.plots.val_loss, tp.plots.train_acc, tp.plots.val_acc):
        assert series.curve.getOriginalDataset()[0].tolist() == [1.0, 2.0]
    assert 0 <= tp.plots.val_acc.curve.getOriginalDataset()[1].max() <= 100

    # The result: best accuracy and where the model is, with buttons to use it.
    assert tp.result.isVisibleTo(tp)
    assert f"{ended.best_val_acc:.1%}" in tp.result.headline.text()
    assert os.path.isfile(ended.best_model) and ended.best_model in tp.result.saved.text()
    assert tp.result.open_button.isEnabled() and tp.result.predict_button.isEnabled()
    assert tp.progress.bar.value() == tp.progress.bar.maximum()
    assert tp.start_button.isEnabled() and not tp.stop_button.isEnabled()

    # Core's notes (which data pipeline and why) are shown in the panel.
    notes = tp.notes.texts()
    for m in (e for e in events if isinstance(e, Message)):
        assert m.text in notes
    assert any("cpu" in n.lower() for n in notes)
    # The log's last "New best model" and the result name the same epoch.
    best_notes = [n for n in notes if n.startswith("New best model at epoch")]
    assert best_notes[-1].startswith(f"New best model at epoch {ended.best_epoch} ")
    assert f"(epoch {ended.best_epoch})" in tp.result.headline.text()

    # The Runs tab lists the run, and reopening it fills its plots and settings.
    rp = w.runs_panel
    assert rp.tree.topLevelItemCount() == 1
    item = rp.tree.topLevelItem(0)
    assert item.text(1) == "Finished" and item.text(2) == "Small CNN"
    assert item.text(3) == f"{ended.best_val_acc:.1%}"
    rp.tree.setCurrentItem(None)
    rp.tree.setCurrentItem(item)
    assert rp.record is not None and rp.record.info.run_dir == ended.run_dir
    rp.plots.redraw()
    assert rp.plots.val_acc.curve.getOriginalDataset()[0].tolist() == [1.0, 2.0]
    x, _ = rp.plots.train_batch_loss.curve.getOriginalDataset()
    assert len(x) == n_batches and x[-1] == pytest.approx(2.0)
    assert rp.settings_form.rowCount() > 3

    # "Use this model to predict" hands best.pt to the Predict tab.
    with qtbot.waitSignal(w.predict_panel.model_loaded, timeout=60000) as loaded:
        tp.result.predict_button.click()
    assert os.path.samefile(loaded.args[0], ended.best_model)
    assert w.tabs.currentWidget() is w.predict_panel


def test_pause_then_resume(qtbot, make_window, two_class_folder):
    w = window_with_data(make_window, qtbot, two_class_folder)
    tp = w.training_panel
    events = recorder(tp)
    assert tp.start()
    tp.pause()                      # takes effect at the loop's next batch boundary
    assert tp.pause_button.text() == "Resume"
    qtbot.waitUntil(lambda: count(events, JobPaused) == 1, timeout=60000)
    assert tp.progress.paused and "Paused" in tp.progress.bar.format()
    before = count(events, BatchEnd)
    qtbot.wait(300)                 # paused: no progress may arrive meanwhile
    assert count(events, BatchEnd) == before
    assert tp.is_running()
    with qtbot.waitSignal(tp.run_finished, timeout=120000) as finished:
        tp.resume()
    assert finished.args[0].reason == "completed"
    assert count(events, JobResumed) == 1
    assert count(events, BatchEnd) > before
    assert tp.pause_button.text() == "Pause"


def test_stop_keeps_a_checkpoint_and_the_run_can_be_resumed(qtbot, make_window, two_class_folder):
    w = window_with_data(make_window, qtbot, two_class_folder, epochs=3)
    tp = w.training_panel
    events = recorder(tp)
    assert tp.start()
    qtbot.waitUntil(lambda: count(events, EpochEnd) >= 1, timeout=60000)
    tp.pause()                      # hold it mid-run, then stop from the paused state
    qtbot.waitUntil(lambda: count(events, JobPaused) == 1, timeout=60000)
    with qtbot.waitSignal(tp.run_finished, timeout=60000) as finished:
        tp.stop()
    ended = finished.args[0]
    assert ended.reason == "stopped", ended.message
    assert ended.epochs_done == 1
    assert os.path.isfile(ended.last_model) and os.path.isfile(os.path.join(ended.run_dir, "resume.pt"))
    with open(os.path.join(ended.run_dir, "status.json"), encoding="utf-8") as f:
        assert json.load(f)["status"] == "stopped"
    assert "Stopped after 1 epoch" in tp.result.headline.text()
    assert not running_threads()

    # Past runs offer to continue it; it finishes the remaining epochs in the same folder.
    rp = w.runs_panel
    assert rp.select_run(ended.run_dir)
    assert rp.resume_button.isEnabled()
    events.clear()
    with qtbot.waitSignal(tp.run_finished, timeout=120000) as finished:
        rp.resume_button.click()
    resumed = finished.args[0]
    assert resumed.reason == "completed", resumed.message
    assert resumed.run_dir == ended.run_dir and resumed.epochs_done == 3
    started = next(e for e in events if isinstance(e, FitStarted))
    assert started.start_epoch == 1
    tp.plots.redraw()
    assert tp.plots.val_acc.curve.getOriginalDataset()[0].tolist() == [1.0, 2.0, 3.0]


def test_closing_during_training_asks_and_stops_cleanly(qtbot, make_window, two_class_folder):
    w = window_with_data(make_window, qtbot, two_class_folder, epochs=20)
    tp = w.training_panel
    events = recorder(tp)
    assert tp.start()
    tp.pause()
    qtbot.waitUntil(lambda: count(events, JobPaused) == 1, timeout=60000)

    asked = []
    w.ask_stop_on_close = lambda: asked.append("keep") or False      # "Keep training"
    assert not w.close()
    assert w.isVisible() and tp.is_running() and not tp.runner.control.stop_requested

    w.ask_stop_on_close = lambda: asked.append("stop") or True       # "Stop and close"
    w.close()
    qtbot.waitUntil(lambda: not w.isVisible(), timeout=60000)
    assert asked == ["keep", "stop"]
    assert not tp.is_running() and not running_threads()
    assert tp.last_result is not None and tp.last_result.reason == "stopped"
    with open(os.path.join(tp.last_result.run_dir, "status.json"), encoding="utf-8") as f:
        assert json.load(f)["status"] == "stopped"


def test_the_responsiveness_benchmark_measures_a_training_run(qtbot, make_window, two_class_folder):
    """The window's event-loop gaps while a model trains are a benchmark's figures
    (python -m tests.tools.responsiveness), not a timed assertion: they depend on the machine's load."""
    from tests.tools.responsiveness import measure

    w = make_window()
    gaps = measure(w, str(two_class_folder), TrainConfig(**{**TINY, "epochs": 3, "batch_size": 4}), timeout_s=120)
    print(f"\n[bench] GUI event loop while training: {gaps}")
    assert gaps.reason == "completed" and gaps.reports >= 3 and gaps.ticks > 10
    assert 0 < gaps.median_ms <= gaps.p99_ms <= gaps.max_ms
    assert not running_threads()


def test_a_failed_run_is_explained_and_the_window_stays_usable(qtbot, make_window, two_class_folder,
                                                               monkeypatch):
    import core.training.trainer
    from core.training.events import FitEnded

    w = window_with_data(make_window, qtbot, two_class_folder)
    tp = w.training_panel

    # Core reports a failure it understood: its message says what to do.
    advice = "The loss became NaN in epoch 1: training diverged. Try a lower learning rate, e.g. 0.0001."
    monkeypatch.setattr(core.training.trainer.Trainer, "fit", lambda self: FitEnded("failed", advice))
    with qtbot.waitSignal(tp.run_finished, timeout=30000) as finished:
        assert tp.start()
    assert finished.args[0].reason == "failed"
    assert tp.result.message.text() == advice and "failed" in tp.result.headline.text().lower()
    assert advice in tp.notes.texts()

    # An unexpected exception becomes a readable message too, and Start works again.
    def crash(self):
        raise ValueError("shapes (3,) and (4,) do not match")

    monkeypatch.setattr(core.training.trainer.Trainer, "fit", crash)
    with qtbot.waitSignal(tp.run_finished, timeout=30000) as finished:
        assert tp.start()
    assert finished.args[0].reason == "failed"
    assert "ValueError" in tp.result.message.text() and "Try again" in tp.result.message.text()
    assert tp.start_button.isEnabled() and tp.form_widget.isEnabled()
    assert not running_threads()


def test_evaluate_and_resume_split_the_photos_as_training_did(qtbot, make_window, two_class_folder):
    """A training seed other than 0 must not move photos between the splits: Evaluate scores
    the model on the photos it was validated on, and a resumed run trains on the same split."""
    from core.training.trainer import Trainer

    w = window_with_data(make_window, qtbot, two_class_folder, epochs=1, seed=7)
    tp = w.training_panel
    assert tp.form.config().seed == 7
    validated = sorted(s.path for s in tp.dataset.val)
    learnt = sorted(s.path for s in tp.dataset.train)
    with qtbot.waitSignal(tp.run_finished, timeout=120000) as finished:
        assert tp.start()
    ended = finished.args[0]
    assert ended.reason == "completed", ended.message

    ev = w.evaluate_panel
    assert ev.model.model_path() == ended.best_model
    with qtbot.waitSignal(ev.evaluated, timeout=60000) as evaluated:
        assert ev.evaluate()
    result = evaluated.args[0]
    assert result.split == "val"
    assert sorted([i.path for i in result.images] + [p for p, _ in result.errors]) == validated

    resumed = Trainer.resume_from(ended.run_dir)
    assert sorted(s.path for s in resumed.dataset.val) == validated
    assert sorted(s.path for s in resumed.dataset.train) == learnt


def test_suggest_puts_the_finders_learning_rate_in_the_box_and_plots_the_sweep(qtbot, make_window,
                                                                                 two_class_folder):
    w = window_with_data(make_window, qtbot, two_class_folder)
    tp = w.training_panel
    row = tp.form.lr_row
    assert row.isVisibleTo(tp.form) and not row.plot.isVisibleTo(tp.form)
    with qtbot.waitSignal(row.runner.ended, timeout=120000):
        row.suggest_button.click()
        # One job at a time: no training while the sweep runs; the button stops the sweep.
        assert "Finding a learning rate" in tp.start_hint.text() and not tp.start_button.isEnabled()
        assert row.suggest_button.text() == "Stop"
    curve = row.curve
    assert curve is not None and curve.suggestion is not None, row.status.text()
    assert 1e-6 <= curve.suggestion <= 10 and len(curve.lrs) > 5
    assert tp.form.fields["lr"].value() == pytest.approx(curve.suggestion, rel=1e-6)
    assert tp.form.config().lr == pytest.approx(curve.suggestion, rel=1e-6)
    assert "Suggested" in row.status.text()
    # The plot: the loss against the rate on a log axis, the suggestion marked on it.
    assert row.plot.isVisibleTo(tp.form)
    assert row.plot.getPlotItem().getAxis("bottom").logMode
    x, y = row.plot.curve.getOriginalDataset()
    assert len(x) == sum(np.isfinite(curve.losses)) and x[0] == pytest.approx(curve.lrs[0])
    mx, my = row.plot.marker.getOriginalDataset()
    assert mx.tolist() == pytest.approx([curve.suggestion]) and my.tolist() == pytest.approx(
        [curve.losses[curve.suggestion_index]])
    assert tp.start_button.isEnabled() and row.suggest_button.text() == "Suggest"
    assert not running_threads()
