"""Starting from an earlier model: the head kept for the same classes, rebuilt for new ones,
another network refused."""
from __future__ import annotations

import pytest
import torch

from core.errors import FledgeError
from core.model.checkpoints import save_checkpoint
from core.model.init_from import carry_weights
from core.model.networks import build_model


def _saved(tmp_path, arch="small_cnn", classes=("bird", "plane")):
    torch.manual_seed(3)
    model, _ = build_model(arch, len(classes), image_size=32)
    path = tmp_path / f"{arch}.pt"
    save_checkpoint(path, model, arch=arch, classes=classes, image_size=32, mean=(0.5,) * 3,
                    std=(0.25,) * 3, config={}, metrics={})
    return model.eval(), str(path)


def test_same_classes_keep_the_head_and_predict_the_same(tmp_path):
    before, path = _saved(tmp_path)
    torch.manual_seed(99)                              # other random weights than the saved ones
    fresh, _ = build_model("small_cnn", 2, image_size=32)
    x = torch.rand(4, 3, 32, 32)
    assert not torch.allclose(fresh.eval()(x), before(x))
    carried = carry_weights(fresh, "small_cnn", ["bird", "plane"], path)
    assert carried.head_kept and carried.new == ()
    assert torch.allclose(fresh.eval()(x), before(x), atol=1e-6)
    assert "last layer too" in carried.message


def test_a_new_class_keeps_the_backbone_and_rebuilds_the_head(tmp_path):
    before, path = _saved(tmp_path)
    torch.manual_seed(99)
    fresh, _ = build_model("small_cnn", 3, image_size=32)
    head_before = fresh.fc.weight.detach().clone()
    carried = carry_weights(fresh, "small_cnn", ["bird", "plane", "empty"], path)
    assert not carried.head_kept and carried.new == ("fc",)
    for name, value in before.state_dict().items():
        if not name.startswith("fc."):
            assert torch.equal(fresh.state_dict()[name], value), name
    assert fresh.fc.weight.shape == (3, before.fc.in_features)
    # bird and plane answer as before; empty starts from the new run's own initial weights.
    assert torch.equal(fresh.fc.weight[:2], before.fc.weight) and torch.equal(fresh.fc.bias[:2], before.fc.bias)
    assert torch.equal(fresh.fc.weight[2], head_before[2])
    assert carried.rows_kept == ("bird", "plane")
    assert "new: empty" in carried.message and "what it knew of bird, plane" in carried.message
    assert carried.to_record()["init_from_head_kept"] is False


def test_a_class_gone_and_one_added_keep_the_rows_of_the_classes_both_have(tmp_path):
    before, path = _saved(tmp_path, classes=("bird", "plane"))
    fresh, _ = build_model("small_cnn", 2, image_size=32)
    carried = carry_weights(fresh, "small_cnn", ["empty", "bird"], path)
    assert carried.rows_kept == ("bird",)
    assert torch.equal(fresh.fc.weight[1], before.fc.weight[0])
    assert "no longer there: plane" in carried.message


def test_classes_in_another_order_rebuild_the_head(tmp_path):
    _before, path = _saved(tmp_path)
    fresh, _ = build_model("small_cnn", 2, image_size=32)
    carried = carry_weights(fresh, "small_cnn", ["plane", "bird"], path)
    assert not carried.head_kept and "order changed" in carried.message


def test_another_network_is_refused_in_plain_words(tmp_path):
    _before, path = _saved(tmp_path, arch="small_cnn")
    other, _ = build_model("simplenet", 2, image_size=32)
    with pytest.raises(FledgeError, match="same network") as info:
        carry_weights(other, "simplenet", ["bird", "plane"], path)
    assert "Traceback" not in str(info.value)


def test_another_image_size_is_refused_for_a_network_that_depends_on_it(tmp_path):
    _before, path = _saved(tmp_path, arch="simplenet")
    other, _ = build_model("simplenet", 2, image_size=64)
    with pytest.raises(FledgeError, match="image size of 32 px"):
        carry_weights(other, "simplenet", ["bird", "plane"], path)


def test_a_missing_file_is_a_plain_error(tmp_path):
    fresh, _ = build_model("small_cnn", 2, image_size=32)
    with pytest.raises(FledgeError, match="no model file"):
        carry_weights(fresh, "small_cnn", ["bird", "plane"], str(tmp_path / "gone.pt"))
