"""The model file format, safe loading, atomic writes and the resume file."""
from __future__ import annotations

import collections
import os
import pickle
import random

import numpy as np
import pytest
import torch

from core.model import checkpoints
from core.model.checkpoints import (FORMAT, FORMAT_VERSION, atomic_save, atomic_write_text,
                              get_rng_state, load_checkpoint, load_resume, model_from_checkpoint,
                              save_checkpoint, save_resume, set_rng_state)
from core.errors import CheckpointError, FledgeError
from core.model.architectures import IMAGENET_MEAN, IMAGENET_STD
from core.model.networks import build_model

CLASSES = ["cat", "dog", "owl"]


def _trained_looking(arch="small_cnn", size=32):
    """A model whose weights and BatchNorm statistics are not the defaults."""
    torch.manual_seed(1)
    model, _ = build_model(arch, len(CLASSES), image_size=size)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(8, 3, size, size) * 2 + 0.5)
    return model.eval()


def _save(path, model, arch="small_cnn", size=32, **kw):
    args = dict(arch=arch, classes=CLASSES, image_size=size, mean=IMAGENET_MEAN,
                std=IMAGENET_STD, config={"arch": arch, "lr": 0.001, "weights_path": None},
                metrics={"val_acc": np.float64(0.75), "epoch": 3})
    args.update(kw)
    save_checkpoint(path, model, **args)


def _edited(tmp_path, **changes):
    """A saved model file with some of its fields changed, as a damaged or foreign file has."""
    path = tmp_path / "m.pt"
    _save(path, _trained_looking())
    ckpt = torch.load(path, weights_only=True)
    ckpt.update(changes)
    torch.save(ckpt, path)
    return path


@pytest.mark.parametrize("arch,size", [("small_cnn", 32), ("simplenet", 48),
                                       ("mobilenet_v3_small", 32)])
def test_round_trip_predicts_the_same(tmp_path, arch, size):
    model = _trained_looking(arch, size)
    path = tmp_path / "best.pt"
    _save(path, model, arch, size)
    ckpt = load_checkpoint(path)
    assert ckpt["format"] == FORMAT and ckpt["format_version"] == FORMAT_VERSION
    assert ckpt["arch"] == arch and ckpt["classes"] == CLASSES and ckpt["image_size"] == size
    assert ckpt["mean"] == list(IMAGENET_MEAN) and ckpt["std"] == list(IMAGENET_STD)
    assert ckpt["metrics"] == {"val_acc": 0.75, "epoch": 3}
    assert type(ckpt["metrics"]["val_acc"]) is float       # numpy made plain
    assert ckpt["config"]["weights_path"] is None
    assert all(v.device.type == "cpu" for v in ckpt["state_dict"].values())
    loaded = model_from_checkpoint(ckpt)
    assert not loaded.training
    x = torch.randn(4, 3, size, size)
    with torch.inference_mode():
        assert torch.equal(loaded(x), model(x))


def test_saved_file_loads_with_plain_weights_only(tmp_path):
    path = tmp_path / "m.pt"
    _save(path, _trained_looking())
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == FORMAT


def test_compiled_style_wrapper_keys_are_plain(tmp_path):
    class Wrapper(torch.nn.Module):       # what torch.compile returns holds _orig_mod
        def __init__(self, inner):
            super().__init__()
            self._orig_mod = inner

    model = _trained_looking()
    _save(tmp_path / "m.pt", Wrapper(model))
    ckpt = load_checkpoint(tmp_path / "m.pt")
    assert set(ckpt["state_dict"]) == set(model.state_dict())


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="There is no model file"):
        load_checkpoint(tmp_path / "nope.pt")


def test_folder_instead_of_file(tmp_path):
    with pytest.raises(CheckpointError, match="is a folder"):
        load_checkpoint(tmp_path)


def test_empty_file(tmp_path):
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        load_checkpoint(tmp_path / "empty.pt")


def test_not_a_torch_file(tmp_path):
    (tmp_path / "notes.pt").write_text("just some text\n")
    with pytest.raises(CheckpointError, match="not a PyTorch"):
        load_checkpoint(tmp_path / "notes.pt")
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "photo.pt", format="PNG")
    with pytest.raises(CheckpointError, match="not a PyTorch"):
        load_checkpoint(tmp_path / "photo.pt")


def test_truncated_file(tmp_path):
    path = tmp_path / "m.pt"
    _save(path, _trained_looking())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="damaged or incomplete"):
        load_checkpoint(path)


class _RunsCode:
    """Unpickling this runs a shell command (what a hostile 'model' file would do)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("how", ["torch.save", "pickle-default", "pickle-2"])
def test_file_that_runs_code_is_refused_and_code_does_not_run(tmp_path, how):
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.pt"
    payload = {"format": FORMAT, "format_version": 1, "arch": "small_cnn",
               "state_dict": _RunsCode(marker)}
    if how == "torch.save":
        torch.save(payload, path)
    else:
        with open(path, "wb") as f:
            pickle.dump(payload, f, protocol=2 if how == "pickle-2" else pickle.DEFAULT_PROTOCOL)
    with pytest.raises(CheckpointError, match="Refused") as info:
        load_checkpoint(path)
    assert "run code" in str(info.value)
    assert not marker.exists()
    with pytest.raises(CheckpointError):
        load_resume(path)
    assert not marker.exists()
    # Control: the same payload does run code when unpickled without protection.
    pickle.loads(pickle.dumps(_RunsCode(tmp_path / "control")))
    assert (tmp_path / "control").exists()


@pytest.mark.parametrize("obj", [{"a": 1}, [1, 2, 3], {"conv.weight": torch.zeros(2)},
                                 {"format": "something-else", "format_version": 1}])
def test_torch_file_that_is_not_a_fledge_model(tmp_path, obj):
    torch.save(obj, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a model saved by Fledge"):
        load_checkpoint(tmp_path / "other.pt")


def test_newer_format_version(tmp_path):
    path = _edited(tmp_path, format_version=FORMAT_VERSION + 1)
    with pytest.raises(CheckpointError, match="newer version of Fledge"):
        load_checkpoint(path)


def test_unknown_architecture(tmp_path):
    path = _edited(tmp_path, arch="hypernet9")
    with pytest.raises(CheckpointError, match="'hypernet9'"):
        load_checkpoint(path)


def test_weights_that_do_not_fit_the_arch(tmp_path):
    path = _edited(tmp_path, arch="resnet18")
    with pytest.raises(CheckpointError, match="do not fit"):
        model_from_checkpoint(load_checkpoint(path))


def test_checkpoint_errors_are_fledge_errors():
    assert issubclass(CheckpointError, FledgeError)


def test_non_plain_config_is_rejected(tmp_path):
    with pytest.raises(TypeError, match="config"):
        _save(tmp_path / "m.pt", _trained_looking(), config={"f": lambda: 1})
    assert not list(tmp_path.iterdir())


def test_atomic_save_failure_keeps_old_file_and_no_tmp(tmp_path, monkeypatch):
    path = tmp_path / "best.pt"
    atomic_save({"v": 1}, path)

    def broken_save(obj, f, *a, **k):
        f.write(b"partial garbage")
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(RuntimeError, match="disk on fire"):
        atomic_save({"v": 2}, path)
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == ["best.pt"]
    assert torch.load(path, weights_only=True) == {"v": 1}


def test_atomic_save_disk_error_is_plain(tmp_path, monkeypatch):
    def full(obj, f, *a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(CheckpointError, match="No space left"):
        atomic_save({"v": 2}, tmp_path / "x.pt")
    assert os.listdir(tmp_path) == []


def test_atomic_write_text(tmp_path):
    path = tmp_path / "status.json"
    atomic_write_text(path, '{"ok": true}')
    atomic_write_text(path, "ünïcode ✓")
    assert path.read_text(encoding="utf-8") == "ünïcode ✓"
    assert os.listdir(tmp_path) == ["status.json"]


def test_resume_round_trip(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[2, 4])
    scaler = torch.amp.GradScaler("cpu")
    for _ in range(3):
        model(torch.randn(2, 4)).sum().backward()
        opt.step()
        sched.step()
    random.seed(5)
    np.random.seed(6)
    torch.manual_seed(7)
    rng = get_rng_state()
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    path = tmp_path / "resume.pt"
    save_resume(path, epoch=3, optimizer_state=opt.state_dict(),
                scheduler_state=sched.state_dict(), scaler_state=scaler.state_dict(),
                rng_state=rng, best_val_acc=0.5, best_epoch=2,
                extra={"images_seen": np.int64(96), "note": "x"})
    state = load_resume(path)
    assert torch.load(path, weights_only=True)["epoch"] == 3       # plain weights_only file
    assert state["epoch"] == 3 and state["best_epoch"] == 2 and state["best_val_acc"] == 0.5
    assert state["extra"] == {"images_seen": 96, "note": "x"}

    model2 = torch.nn.Linear(4, 3)
    opt2 = torch.optim.SGD(model2.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    sched2 = torch.optim.lr_scheduler.MultiStepLR(opt2, milestones=[9])
    opt2.load_state_dict(state["optimizer_state"])
    sched2.load_state_dict(state["scheduler_state"])
    assert sched2.milestones == collections.Counter([2, 4])
    assert sched2.last_epoch == 3
    mom = next(iter(opt.state_dict()["state"].values()))["momentum_buffer"]
    mom2 = next(iter(opt2.state_dict()["state"].values()))["momentum_buffer"]
    assert torch.equal(mom, mom2)
    torch.amp.GradScaler("cpu").load_state_dict(state["scaler_state"])

    random.random(), np.random.rand(), torch.rand(1)        # move every generator on
    set_rng_state(state["rng_state"])
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def test_resume_file_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "resume.pt"
    save_resume(path, epoch=1, optimizer_state={"state": {}, "param_groups": []},
                scheduler_state=None, rng_state=get_rng_state(), best_val_acc=0.0,
                best_epoch=1, extra={})
    with pytest.raises(CheckpointError, match="not a model saved by Fledge"):
        load_checkpoint(path)
    _save(tmp_path / "m.pt", _trained_looking())
    with pytest.raises(CheckpointError, match="not a resume file"):
        load_resume(tmp_path / "m.pt")


def test_checkpoint_info_leaves_out_weights(tmp_path):
    _save(tmp_path / "m.pt", _trained_looking())
    info = checkpoints.checkpoint_info(load_checkpoint(tmp_path / "m.pt"))
    assert "state_dict" not in info and info["classes"] == CLASSES
