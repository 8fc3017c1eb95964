"""core.cli.console: the one way every `fledge` command words a failure, draws progress and
answers Ctrl+C. Progress is driven by a fake clock, never by waiting."""
from __future__ import annotations

import errno
import io
import os
import signal

import pytest

from core.cli.console import LOG_INTERVAL_S, StageProgress, StatusLine, command, ctrl_c_stops, fail
from core.errors import FledgeError, UsageError
from core.progress import JobProgress


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Tty(io.StringIO):
    def isatty(self):
        return True


def one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# -- failures ----------------------------------------------------------------------------------

@pytest.mark.parametrize("error, code, line", [
    (UsageError("--a and --b contradict each other."), 2, "fledge: --a and --b contradict each other."),
    (FledgeError("The model file is damaged."), 1, "fledge: The model file is damaged."),
    (OSError(errno.ENOSPC, "No space left on device", "/media/card/out.csv"), 1,
     "fledge: Could not finish: the disk is full (/media/card/out.csv)."),
    (PermissionError(errno.EACCES, "Permission denied", "/x"), 1, "fledge: Could not finish: permission denied (/x)."),
    (KeyboardInterrupt(), 130, "fledge: interrupted."),
])
def test_command_words_every_failure_in_one_line_with_its_exit_status(error, code, line, capsys):
    @command
    def cmd(args):
        raise error

    assert cmd(None) == code
    assert one_line(capsys.readouterr().err) == line
    assert command(cmd) is cmd                          # wrapping again changes nothing
    assert fail("said", 7) == 7 and capsys.readouterr().err == "fledge: said\n"


def test_train_and_classify_word_a_full_disk_the_same_way(make_image_folder, tmp_path, monkeypatch, capsys):
    from core.cli import photos
    from core.cli.main import main
    from core.data import dataset

    full = OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "out"))

    def raise_full(*args, **kwargs):
        raise full

    monkeypatch.setattr(dataset, "scan_dataset", raise_full)
    monkeypatch.setattr(photos, "_load_predictor", raise_full)
    data = make_image_folder(classes={"bird": 3, "plane": 3})
    model = tmp_path / "model.pt"
    model.write_bytes(b"never read: loading fails first")
    assert main(["train", str(data), "--arch", "small_cnn"]) == 1
    trained = one_line(capsys.readouterr().err)
    assert main(["classify", str(model), str(data / "bird")]) == 1
    classified = one_line(capsys.readouterr().err)
    assert trained == classified == f"fledge: Could not finish: the disk is full ({tmp_path / 'out'})."


def test_a_usage_problem_found_while_setting_up_training_is_exit_status_2(make_image_folder, capsys):
    from core.cli.main import main

    data = make_image_folder(classes={"bird": 3, "plane": 3})
    assert main(["train", str(data), "--val-fraction", "0.7", "--test-fraction", "0.4"]) == 2
    assert "leave some pictures for training" in one_line(capsys.readouterr().err)
    assert main(["train"]) == 2
    assert "train needs a DATA folder" in one_line(capsys.readouterr().err)


# -- progress --------------------------------------------------------------------------------

def test_a_terminal_gets_one_line_redrawn_in_place():
    clock, out = Clock(), Tty()
    line = StatusLine(out, clock)
    line.show("reading 1/300")
    line.show("reading 2/300")                       # at once: not drawn again
    clock.t += 0.5
    line.show("reading 150/300")
    line.show("reading 300/300 done", force=True)
    line.say("epoch 1/1: ...")                       # wipes the line, then a line of its own
    assert out.getvalue() == ("\rreading 1/300\rreading 150/300\rreading 300/300 done"
                              "\r" + " " * 20 + "\repoch 1/1: ...\n")


def test_a_pipe_gets_a_plain_line_every_few_seconds_and_nothing_for_a_short_job():
    clock, out = Clock(), io.StringIO()
    line = StatusLine(out, clock)
    for step in range(1, 40):                        # a report every second for 39 s
        clock.t += 1
        line.show(f"reading photos {step}/40", force=True)
    line.end()
    assert out.getvalue().splitlines() == [f"reading photos {int(n * LOG_INTERVAL_S)}/40" for n in (1, 2, 3)]
    short, quick = io.StringIO(), Clock()
    StatusLine(short, quick).show("classifying 1/1", force=True)
    assert short.getvalue() == ""


def test_stage_progress_gives_each_stage_its_own_line_on_a_terminal():
    clock, out = Clock(), Tty()
    bar = StageProgress({"classifying": "Classifying", "sorting": "Moving"}, stream=out, clock=clock)
    bar(JobProgress("classifying"))               # no count yet: nothing to draw
    bar(JobProgress("classifying", 1, 4))
    bar(JobProgress("classifying", 2, 4))         # at once: not drawn again
    bar(JobProgress("classifying", 4, 4))         # the last is always drawn
    bar(JobProgress("scanning"))                  # a stage not named: not shown
    bar.step("sorting", 2, 2)
    bar.close()
    assert out.getvalue() == ("\rClassifying 1/4 (25%)\rClassifying 4/4 (100%)\n"
                              "\rMoving 2/2 (100%)\n")


def test_stage_progress_in_a_pipe_says_how_far_every_few_seconds():
    clock, out = Clock(), io.StringIO()
    bar = StageProgress({"classifying": "Classifying"}, stream=out, clock=clock)
    for done in range(1, 101):
        clock.t += 0.25
        bar(JobProgress("classifying", done, 100))
    bar.close()
    assert out.getvalue().splitlines() == ["Classifying 40/100 (40%)", "Classifying 80/100 (80%)"]


def _reading(step, total):
    """The quick recipe reading photo `step` of `total`, 32 a second."""
    from core.training.events import BatchEnd

    return BatchEnd(step, 1, step, total, float("nan"), float("nan"), 32.0, (total - step) / 32)


def test_training_in_a_pipe_reports_while_the_photos_are_read(capsys):
    """A log of `fledge train ... | tee log` shows the photo-reading phase going on."""
    from core.cli.train import TrainProgress
    from core.training.events import EXTRACT_PIPELINE, EpochEnd, FitStarted

    clock = Clock()
    progress = TrainProgress(clock=clock)             # stdout: captured, so not a terminal
    progress(FitStarted("run", ("bird", "plane"), 1, 0, 960, 960, "cpu", "fp32", EXTRACT_PIPELINE, ""))
    start = clock.t
    for step in range(1, 961):                        # 30 s in all
        clock.t = start + step / 32
        progress(_reading(step, 960))
    progress(FitStarted("run", ("bird", "plane"), 1, 0, 3, 3, "cpu", "fp32", "features", ""))
    progress(EpochEnd(1, 1, 0.5, 0.8, 0.4, 0.9, 1e-3, 0.1, 100.0))
    out = capsys.readouterr().out.splitlines()
    assert out[:3] == ["reading photos 320/960 32 photos/s ETA 0:20", "reading photos 640/960 32 photos/s ETA 0:10",
                       "reading photos 960/960 32 photos/s ETA 0:00"]
    assert out[3].startswith("Training on cpu (fp32), 1 epochs of 3 steps.")
    assert out[4].startswith("epoch 1/1: train loss 0.5000 acc 80.0%")
    assert "[" not in "".join(out)                    # no bar drawing in a log


def test_training_on_a_terminal_draws_the_bar_in_place():
    from core.cli.train import TrainProgress
    from core.training.events import BatchEnd, FitEnded, FitStarted

    clock, out = Clock(), Tty()
    progress = TrainProgress(out, clock)
    progress(FitStarted("run", ("a", "b"), 1, 0, 2, 2, "cpu", "fp32", "cached", ""))
    progress(BatchEnd(1, 1, 1, 2, 0.7, 0.5, 100.0, 1.0))
    progress(BatchEnd(2, 1, 2, 2, 0.6, 0.75, 100.0, 0.0))
    progress(FitEnded("stopped", "Training was stopped."))
    drawn = out.getvalue().split("\n", 1)[1]
    assert drawn.startswith("\repoch 1 [############------------] 1/2 loss 0.700 acc 50.0% 100 img/s ETA 0:01")
    assert "\repoch 1 [########################] 2/2 loss 0.600" in drawn
    assert drawn.endswith("\r")                       # wiped before the outcome is printed


# -- Ctrl+C -------------------------------------------------------------------------------------

def test_the_first_ctrl_c_asks_to_stop_and_the_second_quits(capsys):
    before = signal.getsignal(signal.SIGINT)
    asked = []
    with ctrl_c_stops(on_stop=lambda: asked.append(True), what="this batch") as should_stop:
        assert not should_stop()
        os.kill(os.getpid(), signal.SIGINT)       # first Ctrl+C: stop cleanly
        assert should_stop() and asked == [True]
        with pytest.raises(KeyboardInterrupt):    # second: quit at once
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before
    assert "Stopping after this batch (press Ctrl+C again to quit at once)" in capsys.readouterr().err
