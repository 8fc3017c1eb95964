"""fledge export: ONNX and TorchScript folders proven to answer as Fledge does, a predict.py
that runs without PyTorch, and broken or interrupted exports that leave nothing behind."""
from __future__ import annotations

import argparse
import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from core.cli import export as export_cli
from core.errors import FledgeError
from core.model.architectures import IMAGENET_MEAN, IMAGENET_STD
from core.model.export import bundle, export_model, model_files
from core.model.export.parity import GENERATED_ONLY, TOLERANCE
from core.model.networks import main_logits
from core.model.predictor import Predictor
from tests.core.conftest import draw_class_image, save_image
from tests.core.model.export_support import (CLASSES, ROOT, assert_same_answers, run_model, small_cnn,
                                             standalone, tricky_photos)

# torch 2.14 deprecates TorchScript on every call; the export chose it knowingly.
pytestmark = pytest.mark.filterwarnings(r"ignore:`torch\.jit\.\w+` is deprecated:FutureWarning")

SIZE = 64


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    """best.pt in a run folder whose run.json names the dataset it was trained on."""
    return run_model(tmp_path_factory.mktemp("export"), small_cnn(SIZE), "small_cnn", SIZE)


@pytest.fixture(scope="module")
def onnx_export(model_path):
    return export_model(model_path, "onnx")


@pytest.fixture(scope="module")
def predictor(model_path):
    return Predictor.from_checkpoint(model_path, device="cpu")


def _entries(folder: Path) -> set[str]:
    return set(os.listdir(folder))


def _cli(*argv) -> int:
    parser = argparse.ArgumentParser(prog="fledge")
    export_cli.register(parser.add_subparsers())
    args = parser.parse_args(["export", *map(str, argv)])
    return args.func(args)


# -- exports that pass ----------------------------------------------------------------------

def test_onnx_export_passes_parity_and_describes_itself(onnx_export, model_path, predictor):
    import onnx
    import onnxruntime

    r = onnx_export
    assert r.ok and r.reason is None, r.reason
    folder = Path(r.folder)
    assert folder == model_path.parent / "best-onnx"
    assert set(r.files) == {"model.onnx", "export.json", "parity.json", "predict.py", "README.md"}
    assert set(r.files) == _entries(folder)
    p = r.parity
    assert p.ok and p.photos >= 12 + 6 and p.from_dataset == 12
    assert 0 <= p.max_abs_diff <= TOLERANCE and p.top_class_agreement == 1.0
    assert 1 in p.batch_sizes and max(p.batch_sizes) > 1
    assert json.loads((folder / "parity.json").read_text())["max_abs_diff"] == p.max_abs_diff

    onnx.checker.check_model(str(folder / "model.onnx"), full_check=True)
    session = onnxruntime.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    batch_dim = session.get_inputs()[0].shape[0]
    assert isinstance(batch_dim, str)                                  # dynamic batch axis
    meta = json.loads((folder / "export.json").read_text())
    assert meta["classes"] == CLASSES and meta["model"]["opset"] == model_files.ONNX_OPSET
    prep = meta["preprocessing"]
    assert (prep["crop"], prep["resize_to"]) == (SIZE, predictor.cache_size)
    assert prep["mean"] == pytest.approx(IMAGENET_MEAN) and prep["std"] == pytest.approx(IMAGENET_STD)
    prov = meta["provenance"]
    assert prov["run"] == model_path.parent.name and prov["validation_accuracy"] == 0.75
    assert prov["dataset"] == str(model_path.parent.parent.parent / "data")
    assert "75.0 %" in (folder / "README.md").read_text() and "predict.py" in (folder / "README.md").read_text()


def test_torchscript_export_from_the_command_line_passes_parity_and_loads_in_pytorch(
        model_path, predictor, tmp_path, capsys):
    assert _cli(model_path.parent, "--format", "torchscript", "--out", tmp_path / "cam") == 0
    out = capsys.readouterr().out
    assert f"Exported to {tmp_path / 'cam'}" in out and "the same top class on every photo" in out
    parity = json.loads((tmp_path / "cam" / "parity.json").read_text())
    assert parity["ok"] and parity["max_abs_diff"] <= TOLERANCE and parity["from_dataset"] == 12
    net = torch.jit.load(str(tmp_path / "cam" / "model.pt"))
    x = torch.randn(3, 3, SIZE, SIZE)
    with torch.inference_mode():
        want = main_logits(predictor.model(x.contiguous(memory_format=torch.channels_last))).softmax(1)
        assert torch.allclose(net(x), want, atol=1e-5)
        assert torch.allclose(net(x[:1]), want[:1], atol=1e-5)       # any batch size


def test_without_its_dataset_the_check_uses_generated_photos(model_path, tmp_path):
    lone = tmp_path / "lone.pt"
    lone.write_bytes(model_path.read_bytes())                        # no run.json beside it
    r = export_model(lone, "torchscript")
    assert r.ok, r.reason
    assert r.parity.from_dataset == 0 and r.parity.photos == GENERATED_ONLY
    assert json.loads((Path(r.folder) / "export.json").read_text())["provenance"]["dataset"] is None


# -- predict.py on its own ------------------------------------------------------------------

def test_the_blocker_really_blocks_torch(tmp_path):
    proc = standalone(tmp_path, "-c", "import torch")
    assert proc.returncode != 0 and "not installed on this computer" in proc.stderr


def test_predict_py_alone_answers_as_the_predictor(onnx_export, predictor, tmp_path):
    script = Path(onnx_export.folder) / "predict.py"
    photos = tricky_photos(tmp_path / "photos")
    for photo in photos:
        proc = standalone(tmp_path, script, photo, "--top-k", "3")
        assert proc.returncode == 0, proc.stderr
        got = [line.split("\t") for line in proc.stdout.strip().splitlines()]
        want = predictor.predict(str(photo), top_k=3)
        assert [c for c, _ in got][0] == want.label, photo.name
        assert {c: float(p) for c, p in got} == pytest.approx(dict(want.top), abs=1e-4), photo.name


def test_predict_py_csv_of_a_folder_equals_fledge_classify(onnx_export, model_path, tmp_path):
    folder = tmp_path / "birdcam"
    tricky_photos(folder)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (folder / "empty.png").write_bytes(b"")
    (folder / "notes.txt").write_text("not a photo")
    save_image(draw_class_image(0, 70, seed=15), folder / "50% off\tnow.png")   # an odd name
    ours, theirs = tmp_path / "predict.csv", tmp_path / "classify.csv"
    proc = standalone(tmp_path, Path(onnx_export.folder) / "predict.py", folder, "--csv", ours)
    assert proc.returncode == 0, proc.stderr
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "core.cli", "classify", str(model_path), str(folder),
                           "--csv", str(theirs), "--device", "cpu"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr

    a = assert_same_answers(ours, theirs)
    assert len(a) == 7
    assert {r["path"].rsplit("/", 1)[-1]: r["error"] != "" for r in a}["broken.jpg"]
    assert any(r["captured"] == "2024-05-06T07:08:09" for r in a)


# -- exports that fail ----------------------------------------------------------------------

def _two_faced(kind: str):
    """A forward that answers differently when exported or traced than when run eagerly."""
    def forward(self, image):
        p = torch.softmax(main_logits(self.net(image)), dim=1)
        if torch.compiler.is_exporting() or torch.jit.is_tracing():
            p = p.flip(1) if kind == "swapped" else (p + 1e-3) / (1 + 1e-3 * p.shape[1])
        return p
    return forward


@pytest.mark.parametrize("fmt,kind", [("onnx", "swapped"), ("torchscript", "nudged")])
def test_an_export_that_answers_differently_is_failed_and_not_kept(model_path, tmp_path, monkeypatch,
                                                                   fmt, kind):
    monkeypatch.setattr(model_files.ProbabilitiesModel, "forward", _two_faced(kind))
    r = export_model(model_path, fmt, out_dir=tmp_path)
    assert not r.ok and r.folder is None and not r.stopped
    assert r.parity is not None and not r.parity.ok
    assert r.parity.max_abs_diff > TOLERANCE
    if kind == "swapped":
        assert r.parity.disagreements and "top class differs" in r.reason
    else:
        assert not r.parity.disagreements and "differ from Fledge's by up to" in r.reason
    assert _entries(tmp_path) == set()                               # nothing half-made left


def test_a_full_disk_is_reported_and_leaves_nothing(model_path, tmp_path, monkeypatch):
    def no_space(path, write):
        raise OSError(errno.ENOSPC, "No space left on device", path)
    monkeypatch.setattr(model_files, "atomic_write", no_space)
    r = export_model(model_path, "torchscript", out_dir=tmp_path)
    assert not r.ok and "disk" in r.reason and "full" in r.reason and str(tmp_path) in r.reason
    assert _entries(tmp_path) == set()


def test_a_stopped_export_leaves_nothing(model_path, tmp_path):
    r = export_model(model_path, "onnx", out_dir=tmp_path, should_stop=lambda: True)
    assert r.stopped and not r.ok and r.folder is None
    assert _entries(tmp_path) == set()


def test_bad_requests_are_refused_before_anything_is_written(model_path, tmp_path):
    with pytest.raises(FledgeError, match="Unknown export format"):
        export_model(model_path, "tflite", out_dir=tmp_path)
    with pytest.raises(FledgeError, match="does not exist"):
        export_model(model_path, "onnx", out_dir=tmp_path / "no" / "such" / "place")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"hello")
    with pytest.raises(FledgeError, match="not a PyTorch model file"):
        export_model(junk, "onnx", out_dir=tmp_path)
    assert _entries(tmp_path) == {"junk.pt"}


def test_an_existing_export_folder_is_never_replaced(tmp_path):
    model = tmp_path / "best.pt"
    assert bundle.destination(str(model), "onnx", None) == (str(tmp_path), "best-onnx")
    assert bundle.destination(str(model), "onnx", str(tmp_path)) == (str(tmp_path), "best-onnx")
    assert bundle.destination(str(model), "onnx", str(tmp_path / "cam")) == (str(tmp_path), "cam")
    (tmp_path / "cam").mkdir()
    (tmp_path / "cam" / "export.json").write_text("{}")               # an earlier export: beside it
    assert bundle.destination(str(model), "onnx", str(tmp_path / "cam")) == (str(tmp_path), "cam")
    (tmp_path / "best-onnx").mkdir()
    (tmp_path / "best-onnx" / "model.onnx").write_text("an earlier export")
    names = []
    for _ in range(2):
        staging = bundle.make_staging(str(tmp_path))
        Path(staging, "model.onnx").write_text("new")
        names.append(os.path.basename(bundle.publish(staging, str(tmp_path), "best-onnx")))
    assert names == ["best-onnx-2", "best-onnx-3"]
    assert (tmp_path / "best-onnx" / "model.onnx").read_text() == "an earlier export"
    assert _entries(tmp_path) == {"cam", "best-onnx", "best-onnx-2", "best-onnx-3"}


# -- the command ----------------------------------------------------------------------------

def test_cli_messages_for_what_goes_wrong(model_path, tmp_path, capsys, monkeypatch):
    assert _cli(tmp_path / "missing.pt") == 1
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "junk.pt").write_bytes(b"\x00" * 10)
    assert _cli(tmp_path / "junk.pt") == 1
    assert "not a PyTorch model file" in capsys.readouterr().err
    monkeypatch.setattr(model_files.ProbabilitiesModel, "forward", _two_faced("swapped"))
    assert _cli(model_path, "--format", "torchscript", "--out", tmp_path / "bad") == 1
    err = capsys.readouterr().err
    assert "The export was not kept" in err and "top class differs" in err
    assert not (tmp_path / "bad").exists()
