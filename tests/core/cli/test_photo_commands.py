"""`fledge evaluate / classify / undo` end to end, through a subprocess, with a real checkpoint.

The checkpoint is a real small_cnn whose classifier weights are zeroed and whose bias
is set so that it answers "bird" with probability 0.8 for every picture: the CLI's
figures and the sort are then exactly predictable.
"""
from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys

import pytest
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def _start(args):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", PYTHONPATH=ROOT)
    return subprocess.Popen([sys.executable, "-m", "core.cli", *map(str, args)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc, timeout=120):
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def fledge(*args):
    return _finish(_start(args))


def fledge_together(*commands):
    """Run independent commands at the same time (each one imports torch: seconds)."""
    procs = [_start(c) for c in commands]
    return [_finish(p) for p in procs]


def picture(path, color):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.new("RGB", (32, 32), color).save(path)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    torch = pytest.importorskip("torch")
    from core.model.checkpoints import save_checkpoint
    from core.model.networks import build_model, get_spec

    net, _ = build_model("small_cnn", 2, image_size=32)
    with torch.no_grad():
        net.fc.weight.zero_()
        net.fc.bias.copy_(torch.tensor([math.log(0.8), math.log(0.2)]))
    spec = get_spec("small_cnn")
    path = tmp_path_factory.mktemp("model") / "best.pt"
    save_checkpoint(path, net, arch="small_cnn", classes=["bird", "plane"], image_size=32,
                    mean=spec.mean, std=spec.std, config={"seed": 0, "val_fraction": 0.2},
                    metrics={})
    return str(path)


def one_line_error(result):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_classify_csv_sort_then_undo(model, tmp_path):
    cam = tmp_path / "cam"
    for i in range(3):
        picture(cam / f"IMG_{i}.jpg", (200, 30 * i, 10))
    picture(cam / "day2" / "IMG_0.jpg", (10, 20, 200))
    (cam / "broken.jpg").write_bytes(b"not really a jpeg")
    out_csv, dest = tmp_path / "out.csv", tmp_path / "sorted"

    r = fledge("classify", model, cam, "--csv", out_csv, "--sort-into", dest, "--threshold", "0.9",
               "--recursive", "--keep-structure", "--move", "--device", "cpu", "--top-k", "2")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    with open(out_csv, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 5
    good = [row for row in rows if not row["error"]]
    assert len(good) == 4
    assert {row["class"] for row in good} == {"bird"} and {row["class_2"] for row in good} == {"plane"}
    assert all(abs(float(row["probability"]) - 0.8) < 1e-4 for row in good)
    bad = next(row for row in rows if row["error"])
    assert bad["path"].endswith("broken.jpg") and bad["class"] == ""
    # 0.8 < 0.9: every readable photo goes to review; the broken one to _unreadable.
    assert sorted(os.listdir(dest / "_review")) == ["IMG_0.jpg", "IMG_1.jpg", "IMG_2.jpg", "day2"]
    assert os.listdir(dest / "_unreadable") == ["broken.jpg"]
    assert not any(f.endswith(".jpg") for _, _, files in os.walk(cam) for f in files)
    assert "Moved 5 photos" in r.stdout and "fledge undo" in r.stdout

    # Re-threshold from the CSV without the model: files are in DEST now, so undo first.
    u = fledge("undo", dest)
    assert u.returncode == 0, u.stderr
    assert "Moved 5 photos back" in u.stdout
    assert sorted(os.listdir(cam)) == ["IMG_0.jpg", "IMG_1.jpg", "IMG_2.jpg", "broken.jpg", "day2"]
    r2 = fledge("classify", "--from-csv", out_csv, "--sort-into", dest, "--threshold", "0.5")
    assert r2.returncode == 0, r2.stderr
    assert sorted(os.listdir(dest / "bird")) == sorted(["IMG_0.jpg", "IMG_0 (2).jpg", "IMG_1.jpg", "IMG_2.jpg"])
    assert os.path.exists(cam / "IMG_0.jpg")                 # copied this time
    assert fledge("undo", dest).returncode == 0
    assert not os.path.exists(dest / "bird")


def test_evaluate_text_and_json(model, tmp_path):
    data = tmp_path / "data"
    for split, n in (("train", 2), ("val", 3)):
        for cls, color in (("bird", (220, 10, 10)), ("plane", (10, 10, 220))):
            for i in range(n):
                picture(data / split / cls / f"{i}.png", color)
    r, t, e = fledge_together(("evaluate", model, data, "--json", "--device", "cpu"),
                              ("evaluate", model, data, "--device", "cpu"),
                              ("evaluate", model, data, "--split", "test", "--device", "cpu"))
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["classes"] == ["bird", "plane"] and d["split"] == "val"
    assert d["confusion"] == [[3, 0], [3, 0]]               # always "bird"
    assert d["accuracy"] == pytest.approx(0.5)
    assert d["per_class"][0]["precision"] == pytest.approx(0.5) and d["per_class"][0]["recall"] == 1.0
    assert d["per_class"][1]["f1"] == 0.0 and d["per_class"][1]["support"] == 3
    assert len(d["images"]) == 6 and all(x["confidence"] == pytest.approx(0.8) for x in d["images"])

    assert t.returncode == 0, t.stderr
    assert "Accuracy: 50.0% (3 of 6 right)" in t.stdout
    assert "Confusion matrix" in t.stdout
    lines = t.stdout.splitlines()
    i = next(n for n, line in enumerate(lines) if line.startswith("Confusion matrix"))
    assert lines[i + 2].split() == ["bird", "3", "0"] and lines[i + 3].split() == ["plane", "3", "0"]

    assert "no images" in one_line_error(e)


def test_user_errors_are_one_clear_line(model, tmp_path):
    cam = tmp_path / "cam"
    picture(cam / "a.jpg", (1, 2, 3))
    missing = fledge("classify", tmp_path / "nope.pt", cam)
    assert "does not exist" in one_line_error(missing) and "nope.pt" in missing.stderr
    no_folder = fledge("classify", model, tmp_path / "no-such-folder")
    assert "does not exist" in one_line_error(no_folder)
    fake = tmp_path / "fake.pt"
    fake.write_bytes(b"these are not model weights")
    not_ckpt = fledge("evaluate", fake, cam, "--device", "cpu")
    assert "fake.pt" in one_line_error(not_ckpt)
    assert "journal" in one_line_error(fledge("undo", cam))
    assert "--sort-into" in one_line_error(fledge("classify", model, cam, "--move"))
    assert "threshold" in one_line_error(fledge("classify", model, cam, "--threshold", "2",
                                                "--sort-into", tmp_path / "d"))


def test_parser_and_loop_modules_do_not_import_torch():
    code = ("import argparse, sys\n"
            "from core.cli.photos import register\n"
            "import core.photos.sorting, core.photos.evaluation, core.photos.labelling, core.files.journal\n"
            "p = argparse.ArgumentParser(); register(p.add_subparsers())\n"
            "a = p.parse_args(['classify', 'm.pt', 'f', '--sort-into', 'd', '--threshold', '0.7'])\n"
            "assert a.func.__name__ == 'cmd_classify' and a.threshold == 0.7\n"
            "print('torch' in sys.modules)\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"


@pytest.fixture
def in_process(tmp_path, monkeypatch):
    """Run `fledge classify` in this process with a fake model that answers "bird" (0.8) for
    every photo; on_image(i) runs after each photo."""
    import argparse

    from core.cli import photos
    from tests.fakes import FakePredictor

    model = tmp_path / "model.pt"
    model.write_bytes(b"not read: the predictor is a fake")
    fake = FakePredictor(["bird", "plane"])
    fake.answer = lambda path: ("bird", 0.8)
    monkeypatch.setattr(photos, "_load_predictor", lambda path, device: fake)
    parser = argparse.ArgumentParser()
    photos.register(parser.add_subparsers())

    def run(*args):
        parsed = parser.parse_args(["classify", str(model), *map(str, args)])
        return parsed.func(parsed)
    run.predictor = fake
    return run


def test_classify_and_sort_in_process_words_the_report_for_the_command_line(in_process, tmp_path, capsys):
    cam, dest = tmp_path / "cam", tmp_path / "sorted"
    for i in range(3):
        picture(cam / f"IMG_{i}.jpg", (200, 10, 10))
    assert in_process(cam, "--sort-into", dest, "--csv", tmp_path / "a.csv") == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [f"Wrote {tmp_path / 'a.csv'} (3 photos).",
                                f"Copied 3 photos into {dest}: 3 to bird.",
                                "Threshold 0.00 for every class: no photo went to review for being unsure.",
                                f"To put everything back: fledge undo {dest}"]
    assert err == "Classified 3 photos.\n"
    assert in_process(cam, "--sort-into", dest) == 0          # the same again: nothing left to do
    assert ("3 were already sorted by an earlier run and were skipped. To sort them again with new "
            f"settings, run 'fledge undo {dest}' first.") in capsys.readouterr().out


def test_ctrl_c_while_classifying_copies_nothing(in_process, tmp_path, capsys):
    import signal

    cam, dest = tmp_path / "cam", tmp_path / "sorted"
    for i in range(4):
        picture(cam / f"IMG_{i}.jpg", (200, 10, 10))
    in_process.predictor.on_image = lambda i: os.kill(os.getpid(), signal.SIGINT) if i == 1 else None
    assert in_process(cam, "--sort-into", dest, "--csv", tmp_path / "a.csv") == 130
    out, err = capsys.readouterr()
    assert not dest.exists()
    assert "Stopped before sorting: no photo was copied or moved." in out
    assert "Classified 2 photos. Stopped early: the rest were not classified." in err
    with open(tmp_path / "a.csv", encoding="utf-8-sig") as f:     # the answers so far are kept
        assert len(f.read().splitlines()) == 3


# -- odd names (issue 14, items 1 and 4) ----------------------------------------------------

ODD = [b"x\r.\ry.jpg", b"x\rreport.docx\ry.jpg", b"caf\xe9.jpg"]


def _odd_camera(tmp_path):
    """Documents/birdcam with photos named as cameras and zip files name them, and the user's
    own files next to it in Documents."""
    docs = tmp_path / "Documents"
    cam = docs / "birdcam"
    for i, name in enumerate(ODD):
        path = os.path.join(os.fsencode(cam), name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        Image.new("RGB", (16, 16), (200, 10 * i, 10)).save(path, format="JPEG")
    (docs / "report.docx").write_bytes(b"the user's report")
    picture(docs / "y.jpg", (1, 2, 3))
    return docs, cam


def _files(root) -> dict:
    out = {}
    for d, _, names in os.walk(os.fsencode(root)):
        for n in names:
            if not n.startswith(b"."):
                with open(os.path.join(d, n), "rb") as f:
                    out[os.path.relpath(os.path.join(d, n), os.fsencode(root))] = f.read()
    return out


def test_odd_names_through_csv_and_back_touch_only_the_csvs_photos(in_process, tmp_path, monkeypatch,
                                                                  capsysbinary):
    import argparse

    from core.cli import photos

    docs, cam = _odd_camera(tmp_path)
    before = _files(tmp_path)
    out_csv, dest = tmp_path / "o.csv", tmp_path / "sorted"
    assert in_process(cam, "--csv", out_csv) == 0           # used to crash on the Latin-1 name
    assert in_process(cam) == 0                             # one line per photo, printed as is
    printed = capsysbinary.readouterr().out
    assert os.path.join(os.fsencode(cam), b"caf\xe9.jpg\tbird") in printed    # the name's own bytes
    parser = argparse.ArgumentParser()
    photos.register(parser.add_subparsers())

    def run(*args):
        parsed = parser.parse_args([*map(str, args)])
        return parsed.func(parsed)

    monkeypatch.chdir(docs)                                 # from the parent folder, as reported
    assert run("classify", "--from-csv", out_csv, "--sort-into", dest, "--move") == 0
    assert (docs / "report.docx").read_bytes() == b"the user's report" and (docs / "y.jpg").exists()
    assert os.listdir(cam) == [] and not (dest / "_unreadable").exists()
    assert sorted(os.listdir(os.fsencode(dest / "bird"))) == sorted(ODD)
    assert b"Moved 3 photos" in capsysbinary.readouterr().out
    assert run("undo", dest) == 0
    assert {k: v for k, v in _files(tmp_path).items() if k != b"o.csv"} == before


def _strict(args, **kw):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", PYTHONPATH=ROOT, PYTHONIOENCODING="utf-8:strict",
               LC_ALL="C.UTF-8")
    return subprocess.run([sys.executable, "-m", "core.cli", *map(os.fsencode, map(str, args))], cwd=ROOT, env=env,
                          capture_output=True, timeout=120, **kw)


def test_names_that_are_not_utf8_print_under_a_strict_utf8_stdout(model, tmp_path):
    docs, cam = _odd_camera(tmp_path)
    odd = os.path.join(os.fsencode(cam), b"caf\xe9.jpg")
    r = _strict(["predict", model, os.fsdecode(odd), "--device", "cpu"])
    assert r.returncode == 0 and b"Traceback" not in r.stderr, r.stderr
    assert odd + b"\tbird" in r.stdout                      # the name's own bytes
    out_csv, dest = tmp_path / "o.csv", tmp_path / "sorted"
    c = _strict(["classify", model, cam, "--csv", out_csv, "--device", "cpu"])
    assert c.returncode == 0 and b"Traceback" not in c.stderr, c.stderr
    listed = _strict(["classify", "--from-csv", out_csv])
    assert listed.returncode == 0 and odd + b"\tbird" in listed.stdout, listed.stderr
    # A photo taken again at its old name: undo names the new name it used, printed as is.
    assert _strict(["classify", "--from-csv", out_csv, "--sort-into", dest, "--move"]).returncode == 0
    with open(odd, "wb") as f:
        f.write(b"a new photo, same name")
    u = _strict(["undo", dest])
    assert u.returncode == 0 and b"Traceback" not in u.stderr, u.stderr
    assert os.path.join(os.fsencode(cam), b"caf\xe9 (2).jpg") in u.stdout


def test_a_failing_journal_is_a_plain_message(in_process, tmp_path, monkeypatch, capsys):
    import errno

    from core.files import fsops

    cam = tmp_path / "cam"
    picture(cam / "a.jpg", (200, 10, 10))
    real = fsops.write

    def write(fd, data):
        if b'"t": "run"' in bytes(data):
            raise OSError(errno.EIO, "Input/output error")
        return real(fd, data)

    monkeypatch.setattr(fsops, "write", write)
    assert in_process(cam, "--sort-into", tmp_path / "sorted", "--move") == 1
    out = capsys.readouterr().out
    assert "could not record this step in its journal" in out and "Input/output error" in out
    assert (cam / "a.jpg").exists()
