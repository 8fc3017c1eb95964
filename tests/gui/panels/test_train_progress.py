"""How the training progress reads: durations in words."""
from __future__ import annotations

from gui.panels.train.training_progress import format_duration


def test_progress_text_formats():
    assert format_duration(42) == "42 s"
    assert format_duration(0.3) == "under a second"
    assert format_duration(200) == "3 min 20 s"
    assert format_duration(3 * 3600 + 300) == "3 h 05 min"
    assert format_duration(float("nan")) == "unknown"


def test_reading_the_photos_reads_as_reading_not_as_an_epoch(qtbot):
    """The quick recipe's first phase (FitStarted pipeline 'extract', BatchEnd without a loss)
    is shown as photos read, then the head's epochs as epochs."""
    import math

    from core.training.events import EXTRACT_PIPELINE, HEAD_PIPELINE, BatchEnd, FitStarted
    from gui.panels.train.training_progress import TrainingProgress

    w = TrainingProgress()
    qtbot.addWidget(w)
    w.handle_event(FitStarted(run_dir="r", classes=("a", "b"), epochs=1, start_epoch=0, steps_per_epoch=400,
                              total_steps=400, device="CPU", precision="fp32", pipeline=EXTRACT_PIPELINE,
                              pipeline_reason=""))
    w.handle_event(BatchEnd(step=120, epoch=1, epoch_step=120, steps_per_epoch=400, loss=math.nan,
                            accuracy=math.nan, images_per_s=30.0, eta_s=9.0))
    assert w.bar.format().startswith("Reading photos") and w.bar.value() == 120
    assert "Photo 120 of 400" in w.detail.text() and "30 photos/s" in w.detail.text()
    assert "Epoch" not in w.detail.text()
    w.handle_event(FitStarted(run_dir="r", classes=("a", "b"), epochs=10, start_epoch=0, steps_per_epoch=5,
                              total_steps=50, device="CPU", precision="fp32", pipeline=HEAD_PIPELINE,
                              pipeline_reason=""))
    assert w.bar.format().startswith("Epoch 1 of 10")



def test_one_photo_a_second_reads_in_the_singular():
    from core.training.events import BatchEnd
    from gui.panels.train.training_progress import TrainingProgress

    slow = BatchEnd(step=3, epoch=1, epoch_step=3, steps_per_epoch=1000, loss=0.7, accuracy=0.5,
                    images_per_s=1.2, eta_s=900.0)
    for text in (TrainingProgress._reading_text(slow), TrainingProgress._batch_text(slow)):
        assert "1 photo/s" in text and "photos/s" not in text
    fast = BatchEnd(step=3, epoch=1, epoch_step=3, steps_per_epoch=1000, loss=0.7, accuracy=0.5,
                    images_per_s=2345.6, eta_s=9.0)
    assert "2,346 photos/s" in TrainingProgress._batch_text(fast)
