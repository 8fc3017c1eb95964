"""Every option of `fledge` checked before anything runs: numbers from one table
(core.cli.options.NUMBERS), contradictory options and paths of the wrong kind refused, each in
one line with exit status 2 and no traceback."""
from __future__ import annotations

import argparse
import os
import stat

import pytest

from core.cli.main import build_parser, main
from core.cli.options import CHECKED_BY_OWNER, NUMBERS, Number
from core.training.config import config_options


def refused(argv, capsys) -> str:
    """`fledge ARGV` in this process: it must stop with status 2 and one line; that line."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:           # argparse stops at a bad option
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _commands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_every_number_option_of_every_command_takes_its_range_from_the_table():
    unchecked = []
    for name, parser in _commands().items():
        for action in parser._actions:
            flags = set(action.option_strings)
            if action.type in (int, float) and not flags & CHECKED_BY_OWNER:
                unchecked.append(f"{name} {'/'.join(sorted(flags))}")
            if flags & set(NUMBERS):
                assert isinstance(action.type, Number), (name, flags)
    assert unchecked == []


@pytest.mark.parametrize("name", ["batch_size", "epochs", "image_size", "seed", "momentum", "weight_decay",
                                  "label_smoothing"])
def test_the_training_settings_ranges_are_trainconfigs_own(name):
    opt = next(o for o in config_options() if o.name == name)
    number = NUMBERS[opt.cli_flag]
    step = 1 if opt.kind is int else 0.001
    for value in (number.low - step, number.low, number.high, number.high + step):
        value = opt.kind(value)
        assert number.allows(value) == (opt.problem(value) is None), value


@pytest.mark.parametrize("argv, words", [
    (["bench", "--images", "-1"], "argument --images: must be a whole number from 1 to"),
    (["predict", "m.pt", "x.jpg", "--top-k", "0"], "argument --top-k: must be a whole number from 1"),
    (["predict", "m.pt", "x.jpg", "--top-k", "-5"], "argument --top-k"),
    (["evaluate", "m.pt", "data", "--batch-size", "0"], "argument --batch-size: must be a whole number from 1 to 4096"),
    (["classify", "m.pt", "cam", "--batch-size", "-3"], "argument --batch-size"),
    (["watch", "m.pt", "cam", "--sort-into", "d", "--settle", "nan"], "--settle: must be a number above 0"),
    (["watch", "m.pt", "cam", "--sort-into", "d", "--settle", "inf"], "--settle: must be a number above 0"),
    (["watch", "m.pt", "cam", "--sort-into", "d", "--threshold", "1.5"], "--threshold: must be a number from 0 to 1"),
    (["classify", "m.pt", "cam", "--threshold", "-0.1"], "--threshold: must be a number from 0 to 1"),
    (["thresholds", "m.pt", "data", "--confidence", "1.5"], "argument --confidence: must be a number from 0.5"),
    (["thresholds", "m.pt", "--save", "--clear"], "argument --clear: not allowed with argument --save"),
    (["check-labels", "data", "--top", "-2"], "argument --top"),
    (["sample-data", "out", "--per-class", "1"], "argument --per-class: must be a whole number from 2"),
    (["bench", "--recipes", "--per-class", "0"], "argument --per-class"),
    (["bench", "--epochs", "0"], "argument --epochs: must be a whole number from 1 to 10000"),
    (["train", "data", "--batch-size", "0"], "argument --batch-size: must be a whole number from 1 to 4096"),
    (["train", "data", "--workers", "-1"], "argument --workers"),
    (["bench", "--per-class", "5"], "--per-class chooses photos for --recipes"),
    (["bench", "--quick", "--images", "3"], "--images 3: the benchmark needs at least 8"),
])
def test_a_number_out_of_range_or_options_that_contradict_are_refused_in_one_line(argv, words, capsys):
    assert words in refused(argv, capsys)


def test_runs_refuses_a_root_that_is_a_file(tmp_path, capsys):
    afile = tmp_path / "notes.txt"
    afile.write_text("mine")
    assert refused(["runs", "--root", afile], capsys) == (f"fledge: --root {afile} is a file, not a folder. "
                                                          "Give the folder that holds the run folders.")


def test_undo_of_a_file_says_it_is_a_file(tmp_path, capsys):
    afile = tmp_path / "sorted.txt"
    afile.write_text("mine")
    assert refused(["undo", afile], capsys) == (f"fledge: {afile} is a file, not a folder. Give the folder the "
                                                "photos were sorted into.")
    assert afile.read_text() == "mine"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes")
@pytest.mark.parametrize("command", ["classify", "check-labels"])
def test_a_csv_that_is_a_named_pipe_or_a_folder_is_refused_and_left_alone(command, tmp_path, capsys):
    fifo, folder = tmp_path / "answers.csv", tmp_path / "a folder"
    os.mkfifo(fifo)
    folder.mkdir()
    first = ["classify", "m.pt", tmp_path] if command == "classify" else ["check-labels", tmp_path]
    assert f"{fifo} is not a plain file (a named pipe or a device)" in refused([*first, "--csv", fifo], capsys)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert f"{folder} is a folder" in refused([*first, "--csv", folder], capsys)


@pytest.mark.parametrize("inside", ["sorted", "."])
def test_watch_refuses_a_destination_inside_the_watched_folder(inside, tmp_path, capsys):
    cam = tmp_path / "cam"
    cam.mkdir()
    dest = os.path.normpath(cam / inside)
    line = refused(["watch", "never-loaded.pt", cam, "--sort-into", dest], capsys)
    assert line == (f"fledge: {dest} is inside the watched folder {cam}. Choose a folder outside it to sort "
                    "the photos into.")
    assert os.listdir(cam) == []
