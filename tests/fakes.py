"""The fakes the tests share: a predictor that answers without a model.

    predictor = FakePredictor(["cat", "dog"], {"a.png": ("cat", 0.9), "b.png": "file is damaged"})

Anything with `classes` and predict_many(paths, batch_size=, top_k=, progress=, should_stop=)
is a predictor to core.photos and the panels, so no test needs torch to check them.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class Pred:
    """One photo's answer, shaped like core.model.predictor.Prediction."""
    source: str
    top: list
    error: str | None = None


class FakePredictor:
    """Answers from a table, in the order asked, honouring should_stop and reporting progress.

    answers: a path or a file name -> (class, probability), or an error string for a photo
    the model cannot read; the other classes share the rest of the probability. Subclasses
    may answer by overriding answer(path) instead.
    gate: a threading.Event each call waits for (entered is set once it waits), to hold a job
    in the model while a test clicks. on_image(i) runs after each photo on the caller's thread
    (to stop a job at an exact point).
    Records asked (the file names asked about) and calls ((batch_size, top_k) per call).
    """

    def __init__(self, classes, answers=None, *, gate: threading.Event | None = None, on_image=None):
        self.classes = list(classes)
        self.answers = dict(answers or {})
        self.gate = gate
        self.on_image = on_image
        self.entered = threading.Event()
        self.asked: list[str] = []
        self.calls: list[tuple[int, int]] = []

    def answer(self, path: str):
        """(class, probability) or an error string for the photo at path."""
        return self.answers[path] if path in self.answers else self.answers[os.path.basename(path)]

    def predict_many(self, images, batch_size=64, top_k=5, progress=None, should_stop=None, **_):
        images = list(images)
        self.calls.append((batch_size, top_k))
        if self.gate is not None:
            self.entered.set()
            assert self.gate.wait(20), "the test never opened the gate"
        out = []
        for i, path in enumerate(images):
            if should_stop is not None and should_stop():
                break
            self.asked.append(os.path.basename(path))
            out.append(self._prediction(path, top_k))
            if progress is not None:
                progress(i + 1, len(images))
            if self.on_image is not None:
                self.on_image(i)
        return out

    def _prediction(self, path: str, top_k: int) -> Pred:
        a = self.answer(path)
        if isinstance(a, str):
            return Pred(path, [], a)
        cls, prob = a
        rest = [c for c in self.classes if c != cls]
        top = [(cls, prob)] + [(c, (1 - prob) / len(rest)) for c in rest]
        return Pred(path, top[:top_k])


class ColorPredictor(FakePredictor):
    """bird vs plane by how red (bird) or blue (plane) a picture is; decodes like the real one,
    so an unreadable file gets the reader's own reason."""

    def __init__(self):
        super().__init__(["bird", "plane"])

    def answer(self, path):
        from core.data.imageio import load_rgb
        from core.errors import FledgeError

        try:
            r, _, b = load_rgb(path).getpixel((0, 0))
        except FledgeError as exc:
            return exc.reason
        p_bird = r / (r + b) if r + b else 0.5
        return ("bird", p_bird) if p_bird >= 0.5 else ("plane", 1 - p_bird)


BIRD = (240, 0, 10)       # ~0.96 bird to ColorPredictor
PLANE = (10, 0, 240)      # ~0.96 plane
UNSURE = (110, 0, 90)     # 0.55 bird


def color_photo(path, color, exif=None) -> str:
    """A small one-colour picture (see ColorPredictor) at path, with EXIF data if given."""
    from PIL import Image

    os.makedirs(os.path.dirname(path), exist_ok=True)
    image = Image.new("RGB", (8, 8), color)
    image.save(path, exif=exif) if exif is not None else image.save(path)
    return str(path)


def noise_photo(path, seed: int, size: int = 24) -> str:
    """A small picture of random pixels, different for each seed (so no two photos are alike)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)
    return str(path)


def full_disk_at(monkeypatch, n: int) -> list[str]:
    """Make the n-th copy of a photo fail as on a full disk; returns the sources copied (or tried)."""
    import errno

    from core.files import file_transfer

    real_copy, tried = file_transfer._copy_data, []

    def copy_until_full(src, tmp):
        tried.append(src)
        if len(tried) == n:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_copy(src, tmp)

    monkeypatch.setattr(file_transfer, "_copy_data", copy_until_full)
    return tried


def past_run(root, name: str, config: dict, val_accs, *, classes=("bird", "plane"), best_model=False) -> str:
    """A finished run folder as the trainer leaves it (config.json, run.json, status.json,
    metrics.csv; best.pt only as a name), one epoch per validation accuracy given."""
    import json

    run = os.path.join(root, name)
    os.makedirs(run)
    with open(os.path.join(run, "config.json"), "w") as f:
        json.dump({"recipe": "custom", **config}, f)
    with open(os.path.join(run, "run.json"), "w") as f:
        json.dump({"started": name, "classes": list(classes), "data_root": "/photos"}, f)
    with open(os.path.join(run, "status.json"), "w") as f:
        json.dump({"status": "completed", "epochs_done": len(val_accs), "best_val_acc": max(val_accs)}, f)
    with open(os.path.join(run, "metrics.csv"), "w") as f:
        f.write("epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds\n")
        for i, acc in enumerate(val_accs, 1):
            f.write(f"{i},{1 / i},{acc},{1.5 - acc},{acc},0.001,1.0\n")
    if best_model:
        with open(os.path.join(run, "best.pt"), "wb") as f:
            f.write(b"PK")
    return run
