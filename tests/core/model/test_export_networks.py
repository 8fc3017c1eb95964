"""Export of a torchvision network (ResNet-18) and of the pretrained quick model
(EfficientNet-Lite0 with a head trained on its features): parity on the dataset's decoded
photos, and predict.py without PyTorch answering as `fledge predict` and `fledge classify`."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core.model import offline_backbone as ob
from core.model.export import export_model
from core.model.export.parity import TOLERANCE
from core.model.networks import build_model
from tests.core.model.export_support import (CLASSES, assert_same_answers, decisive, fledge,
                                             fledge_predict_top, run_model, standalone, tricky_photos,
                                             write_dataset)


def _resnet18(base: Path) -> Path:
    torch.manual_seed(3)
    net, _ = build_model("resnet18", len(CLASSES), image_size=64, pretrained=False)
    return run_model(base, decisive(net, net.fc, 64), "resnet18", 64)


def _quick(base: Path) -> Path:
    """What a quick run saves: the offline ImageNet backbone and a head trained on its features."""
    from core.training import quick
    from core.training.features import default_backbone, extract_features

    data = write_dataset(base / "features")
    paths = sorted(str(p) for p in data.rglob("*.*"))
    feats = extract_features(paths, default_backbone())
    assert feats.usable.all()
    y = np.array([CLASSES.index(Path(p).parent.name) for p in paths])
    head = quick.train_head(feats.vectors, y, feats.vectors[:, 0], y, len(CLASSES),
                            quick.HeadSettings(epochs=15))
    return run_model(base, quick.quick_model(head), "efficientnet_lite0", 224, mean=ob.MEAN, std=ob.STD,
                     config={"recipe": "quick", "pretrained": True})


@pytest.fixture(scope="module", params=["resnet18", "quick"])
def exported(request, tmp_path_factory):
    """(the .pt, its ONNX export's result) for each network: one export per network."""
    base = tmp_path_factory.mktemp(request.param)
    model_path = (_resnet18 if request.param == "resnet18" else _quick)(base)
    return model_path, export_model(model_path, "onnx")


def test_the_export_passes_parity_on_the_datasets_decoded_photos(exported):
    _, result = exported
    assert result.ok, result.reason
    p = result.parity
    assert p.ok and p.from_dataset == 12 and p.photos == 12 + 6        # the dataset, then generated
    assert 0 <= p.max_abs_diff <= TOLERANCE and p.top_class_agreement == 1.0


def test_predict_py_without_torch_gives_the_top_classes_of_fledge_predict(exported, tmp_path, capsys):
    model_path, result = exported
    for photo in tricky_photos(tmp_path / "photos")[:2]:               # the EXIF-rotated, the transparent
        proc = standalone(tmp_path, Path(result.folder) / "predict.py", photo, "--top-k", "3")
        assert proc.returncode == 0, proc.stderr
        got = [(c, float(p)) for c, p in (line.split("\t") for line in proc.stdout.strip().splitlines())]
        want = fledge_predict_top(capsys, model_path, photo)
        assert [c for c, _ in got] == [c for c, _ in want], photo.name
        assert [p for _, p in got] == pytest.approx([p for _, p in want], abs=1e-4), photo.name


def test_predict_py_csv_of_a_folder_equals_fledge_classify(exported, tmp_path, capsys):
    model_path, result = exported
    data = model_path.parents[2] / "data"
    ours, theirs = tmp_path / "predict.csv", tmp_path / "classify.csv"
    proc = standalone(tmp_path, Path(result.folder) / "predict.py", data, "--recursive", "--csv", ours)
    assert proc.returncode == 0, proc.stderr
    code, _, err = fledge(capsys, "classify", model_path, data, "--recursive", "--csv", theirs, "--device", "cpu")
    assert code == 0, err
    rows = assert_same_answers(ours, theirs)
    assert len(rows) == 12 and len({r["class"] for r in rows}) > 1     # the answers differ by photo
