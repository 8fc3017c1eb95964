"""A model file whose class names cannot be folder names ('..', '.', a slash, empty, twice) is refused
when it is loaded, with the reason, before any photo is looked at or any folder made."""
from __future__ import annotations

import pytest

from core.cli.main import main
from core.model.checkpoints import save_checkpoint
from core.model.networks import build_model, get_spec
from tests.core.cli.test_photo_commands import picture


def _model(path, classes) -> str:
    net, _ = build_model("small_cnn", len(classes), image_size=32)
    spec = get_spec("small_cnn")
    save_checkpoint(path, net, arch="small_cnn", classes=classes, image_size=32, mean=spec.mean, std=spec.std,
                    config={}, metrics={})
    return str(path)


@pytest.mark.parametrize("classes, words", [
    (["bird", ".."], "the class name '..' would be a folder name that means another folder"),
    ([".", "bird"], "the class name '.' would be a folder name that means another folder"),
    (["bird", "../elsewhere"], "the class name '../elsewhere' holds a slash or a character no folder name can have"),
    (["bird", "bird", "plane"], "its list of classes names 'bird' twice"),
], ids=["dot-dot", "dot", "slash", "twice"])
def test_classify_refuses_a_model_whose_class_cannot_be_a_folder(tmp_path, capsys, classes, words):
    model = _model(tmp_path / "best.pt", classes)
    for i in range(3):
        picture(tmp_path / "cam" / f"IMG_{i}.jpg", (200, 10, 10))
    code = main(["classify", model, str(tmp_path / "cam"), "--sort-into", str(tmp_path / "sorted")])
    out, err = capsys.readouterr()
    assert code == 1, out + err
    assert f"{model} is damaged or not usable: {words}." in err
    assert "No pictures found" not in out + err and "Traceback" not in err
    assert not (tmp_path / "sorted").exists()
