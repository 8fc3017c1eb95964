"""`fledge predict MODEL PHOTO` imports what answering needs and nothing more: not the window,
not the other commands' code, not the packages of exporting, explaining, finding duplicates
or watching folders, and for a network of its own no torchvision; and once it has answered
the process ends at once. The real command runs in a process of its own, under
`python -X importtime` (tests/tools/first_answer.py times it)."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from core.model.architectures import IMAGENET_MEAN, IMAGENET_STD
from core.model.checkpoints import save_checkpoint
from core.model.networks import build_model
from tests.tools.first_answer import ROOT, fledge_command, fledge_env, parse_importtime

# Never on the way to an answer, whatever the network: the window, the other commands, and
# what only exporting, Grad-CAM, duplicate finding, folder watching or statistics use.
NEVER = ("PySide6", "shiboken6", "pyqtgraph", "gui.app", "gui.main_window",
         "core.cli.train", "core.cli.photos", "core.cli.watch", "core.cli.thresholds", "core.cli.export",
         "core.cli.check_labels", "core.cli.info", "core.bench", "core.photos", "core.training.trainer",
         "onnx", "onnxruntime", "onnxscript", "torch.onnx", "pytorch_grad_cam", "imagehash", "watchdog",
         "scipy", "sklearn", "matplotlib", "cv2")
# And for each network, what it does not need either: torchvision (a network of torchvision's
# needs it) pulls in torch._dynamo and sympy, about 1 s; timm pulls in torchvision. Fledge's own
# networks, the quick recipe's EfficientNet-Lites among them, need none of them.
NOT_FOR_NETWORK = {
    "small_cnn": ("timm", "torchvision", "torch._dynamo", "sympy"),
    "efficientnet_lite0": ("timm", "torchvision", "torch._dynamo", "sympy"),
}
# What every answer imports: without these in the list, the list was not read right.
ALWAYS = ("torch", "core.model.predictor", "core.cli.main", "gui")


def _model_file(path, arch: str) -> str:
    model, _ = build_model(arch, 2, image_size=32)
    save_checkpoint(path, model.eval(), arch=arch, classes=["bird", "plane"], image_size=32,
                    mean=IMAGENET_MEAN, std=IMAGENET_STD, config={}, metrics={})
    return str(path)


def _photo(path) -> str:
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(path)
    return str(path)


def imported_by_predict(model: str, photo: str) -> tuple[set[str], str]:
    """(every module the command imported, its output)."""
    proc = subprocess.run(fledge_command("predict", model, photo, importtime=True), capture_output=True,
                          text=True, env=fledge_env(), cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {m.name for m in parse_importtime(proc.stderr)}, proc.stdout


def _found(modules: set[str], names) -> list[str]:
    """The names, of packages or modules, of which modules holds the module or something inside it."""
    return [n for n in names if any(m == n or m.startswith(n + ".") for m in modules)]


@pytest.mark.parametrize("arch", sorted(NOT_FOR_NETWORK))
def test_predict_imports_only_what_the_answer_needs(tmp_path, arch):
    modules, out = imported_by_predict(_model_file(tmp_path / "best.pt", arch), _photo(tmp_path / "p.jpg"))
    assert out.split("\t")[1] in ("bird", "plane")
    assert _found(modules, ALWAYS) == list(ALWAYS)
    assert _found(modules, NEVER + NOT_FOR_NETWORK[arch]) == []


def test_found_reads_packages_and_their_modules():
    """The check above can fail: a package counts when any module inside it was imported."""
    modules = {"torch", "torch._dynamo.utils", "core.photos.sorting", "torchvisionary"}
    assert _found(modules, ("torch._dynamo", "core.photos", "torchvision", "torch.fx")) == [
        "torch._dynamo", "core.photos"]


def test_importtime_report_is_read_with_who_imported_what():
    report = ("import time: self [us] | cumulative | imported package\n"
              "import time:       100 |        100 |     numpy.core\n"
              "import time:       200 |        300 |   numpy\n"
              "import time:        50 |         50 |   PIL\n"
              "import time:      1000 |       1350 | core.model.predictor\n"
              "import time:         7 |          7 | json\n")
    got = [(m.name, m.depth, m.self_s, m.cumulative_s, m.parent) for m in parse_importtime(report)]
    assert got == [("numpy.core", 2, 100e-6, 100e-6, "numpy"), ("numpy", 1, 200e-6, 300e-6, "core.model.predictor"),
                   ("PIL", 1, 50e-6, 50e-6, "core.model.predictor"),
                   ("core.model.predictor", 0, 1000e-6, 1350e-6, None), ("json", 0, 7e-6, 7e-6, None)]


@pytest.mark.parametrize("as_program", [True, False])
def test_predict_as_the_program_ends_without_teardown_and_its_answer_complete(tmp_path, as_program):
    """Run as `fledge`, predict ends the process when it has answered (the interpreter's
    teardown takes 0.4 s with torch); called with argv, from Python, it returns."""
    model, photo = _model_file(tmp_path / "best.pt", "small_cnn"), _photo(tmp_path / "p.jpg")
    args = ["predict", model, photo, "--json", "--top-k", "2"]
    call = "main()" if as_program else f"main({args!r})"
    code = (f"import atexit, sys; atexit.register(print, 'teardown'); sys.argv = {['fledge', *args]!r}\n"
            f"from gui.launcher import main; status = {call}; print('returned'); sys.exit(status)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=fledge_env(),
                          cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    answer, _, after = proc.stdout.rpartition("]\n")
    assert {t["class"] for t in json.loads(answer + "]")[0]["top"]} == {"bird", "plane"}
    assert after.split() == ([] if as_program else ["returned", "teardown"])


def test_predict_starts_the_thread_rules_measure_before_it_loads_the_model(tmp_path, monkeypatch):
    """So the measure is ready when the photo is: the photo waits for no measuring window."""
    from core.cli.main import main
    from core.model import threads
    from core.model.export import loading

    events = []
    real_load = loading.load_predictor
    monkeypatch.setattr(loading, "load_predictor", lambda *a, **k: events.append("load") or real_load(*a, **k))
    before = threads.use_policy(threads.ThreadPolicy(sample=lambda: events.append("measure") or None))
    try:
        assert main(["predict", _model_file(tmp_path / "best.pt", "small_cnn"), _photo(tmp_path / "p.jpg")]) == 0
    finally:
        threads.use_policy(before)
    assert events[:2] == ["measure", "load"]
