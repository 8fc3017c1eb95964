"""The Train tab's result box: a failed run is explained, and a finished run's score is put in
context (against always answering the most common class) with a warning when it is barely
better than guessing."""
from __future__ import annotations

import html

from PySide6.QtGui import QPalette

from core.training.config import TrainConfig
from core.training.events import FitEnded
from gui.panels.train.train_panel import TrainingPanel
from gui.style import success_colour, warning_colour
from gui.settings import Settings


def test_result_box_shows_a_failure_and_stays_usable(qtbot):
    tp = TrainingPanel(Settings())
    qtbot.addWidget(tp)
    tp._end(FitEnded("failed", "The GPU ran out of memory with a batch size of 64. Choose a smaller batch size."))
    assert tp.result.isVisibleTo(tp)
    assert "smaller batch size" in tp.result.message.text()
    assert "failed" in tp.result.headline.text().lower()
    assert not tp.result.predict_button.isEnabled()


def headline_colour(tp):
    return tp.result.headline.palette().color(QPalette.ColorRole.WindowText)


def finish_with(qtbot, tp, monkeypatch, accuracy: float) -> FitEnded:
    """A run (through Start, on the Data tab's photos) that ends at this validation accuracy."""
    import core.training.trainer

    ended = FitEnded("completed", f"Training finished. Best validation accuracy {accuracy:.1%} (epoch 2).",
                     best_val_acc=accuracy, best_epoch=2, epochs_done=2)
    monkeypatch.setattr(core.training.trainer.Trainer, "fit", lambda self: ended)
    with qtbot.waitSignal(tp.run_finished, timeout=30000):
        assert tp.start()
    return ended


def test_a_model_at_chance_is_called_guessing_in_a_warning_colour(qtbot, make_window, two_class_folder,
                                                                  monkeypatch):
    w = make_window()
    w.open_dataset(str(two_class_folder))
    tp = w.training_panel
    qtbot.waitUntil(lambda: tp.dataset is not None, timeout=30000)
    tp.form.apply_config(TrainConfig(recipe="custom", arch="small_cnn", image_size=32, device="cpu", epochs=2))
    val = tp.dataset.counts()["val"]
    assert val["disc"] == val["bar"]             # always answering one class scores 50%

    finish_with(qtbot, tp, monkeypatch, 0.5)
    result = tp.result
    assert result.level == "guessing"
    assert "little better than guessing" in result.headline.text() and "50.0%" in result.headline.text()
    assert headline_colour(tp) == warning_colour(result.palette())
    assert headline_colour(tp) != success_colour(result.palette())
    verdict = html.unescape(result.verdict.text())
    assert result.verdict.isVisibleTo(tp)
    assert "no better than guessing" in verdict and "always answering '" in verdict
    assert "What to try" in verdict and "Quick training" in verdict    # small_cnn started from scratch

    # A model that does its job is a green "Finished", said to be much better than guessing.
    finish_with(qtbot, tp, monkeypatch, 1.0)
    assert result.level == "good"
    assert result.headline.text().startswith("Finished: best validation accuracy 100.0%")
    assert headline_colour(tp) == success_colour(result.palette())
    assert "much better than guessing" in result.verdict.text() and "What to try" not in result.verdict.text()


def test_the_result_says_a_run_stopped_early_and_overfitted(qtbot):
    tp = TrainingPanel(Settings())
    qtbot.addWidget(tp)
    early = "Stopped early after epoch 9: the validation accuracy and loss had not improved for 5 epochs."
    overfit = "Overfitting: from epoch 3 to 6 the training photos were learnt better."
    tp._end(FitEnded("completed", "Training finished.", best_val_acc=0.9, best_epoch=4, epochs_done=9,
                     test_acc=0.85, remarks=(early, overfit)))
    text = tp.result.message.text()
    assert tp.result.message.isVisibleTo(tp)
    assert text.startswith(early) and overfit in text and "test images: 85.0%" in text
    assert "(epoch 4)" in tp.result.headline.text()
    tp._end(FitEnded("stopped", "Training was stopped.", best_val_acc=0.9, best_epoch=4, epochs_done=5,
                     remarks=(overfit,)))
    assert overfit in tp.result.message.text()
