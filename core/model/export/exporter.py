"""export_model: a Fledge model file to a folder another computer can use, proven equal.

    result = export_model("runs/…/best.pt", "onnx")
    result.ok, result.folder, result.parity.max_abs_diff, result.reason

Bad input (no such model file, a damaged one, an unknown format, an export place that
cannot exist) raises a FledgeError before anything is written. Everything after that
comes back in the ExportResult: a model the exporter cannot convert, a failed parity
check, a full disk, a stop. Only an export whose parity check passed is renamed into
place; any other leaves nothing behind.
"""
from __future__ import annotations

import errno
import importlib.util
import itertools
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

from core.errors import FledgeError
from core.model.export import bundle
from core.model.export.model_files import MODEL_FILES, refusal, write_model_file
from core.model.export.parity import (DATASET_PHOTOS, GENERATED_ONLY, ParityReport, ParityStopped,
                                      check_parity, dataset_photos, generated_photos)
from core.progress import JobProgress, Throttled

_scripts = itertools.count()


@dataclass(frozen=True)
class ExportResult:
    ok: bool
    format: str
    folder: str | None                    # the usable export folder; None unless ok
    files: tuple[str, ...] = ()           # names inside folder
    parity: ParityReport | None = None    # the figures, also when the check failed
    reason: str | None = None             # why ok is False, in plain words
    stopped: bool = False

    def to_dict(self) -> dict:
        return {"ok": self.ok, "format": self.format, "folder": self.folder,
                "files": list(self.files), "reason": self.reason, "stopped": self.stopped,
                "parity": self.parity.to_dict() if self.parity else None}

    def summary(self) -> str:
        if self.ok:
            return (f"Exported to {self.folder} ({', '.join(self.files)}); "
                    f"{self.parity.summary() if self.parity else ''}")
        return self.reason if self.stopped else f"The export was not kept. {self.reason}"


def export_model(model_path, fmt: str = "onnx", out_dir=None,
                 progress: Callable[[JobProgress], None] | None = None,
                 should_stop: Callable[[], bool] | None = None) -> ExportResult:
    """Export model_path (a Fledge .pt file) as fmt ("onnx" or "torchscript").

    out_dir: None (beside the model), an existing folder (the export goes inside it) or the
    new export folder's path. An existing export is never replaced: a free name is used.
    progress gets JobProgress stages "loading", "exporting", "checking" (done/total photos).
    """
    from core.model.checkpoints import checkpoint_info, load_checkpoint, model_from_checkpoint
    from core.model.predictor import Predictor

    report = progress or (lambda _p: None)
    problem = refusal(fmt)
    if problem:
        raise FledgeError(problem)
    model_path = os.path.abspath(os.path.expanduser(os.fspath(model_path)))
    parent, name = bundle.destination(model_path, fmt, out_dir)
    report(JobProgress("loading", 0, 1))
    ckpt = load_checkpoint(model_path)
    predictor = Predictor(model_from_checkpoint(ckpt), ckpt["classes"], ckpt["image_size"],
                          ckpt["mean"], ckpt["std"], "cpu", arch=ckpt["arch"],
                          info=checkpoint_info(ckpt), precision="fp32")
    report(JobProgress("loading", 1, 1))
    staging = None
    try:
        staging = bundle.make_staging(parent)
        parity = _build(ckpt, model_from_checkpoint(ckpt), predictor, fmt, staging, report,
                        should_stop or (lambda: False))
        if not parity.ok:
            return ExportResult(False, fmt, None, parity=parity,
                                reason=f"The exported model does not answer as Fledge does: {parity.reason}")
        folder = bundle.publish(staging, parent, name)
        staging = None
        return ExportResult(True, fmt, folder, tuple(sorted(os.listdir(folder))), parity)
    except _Stopped:
        return ExportResult(False, fmt, None, stopped=True,
                            reason="The export was stopped before it was finished; nothing was kept.")
    except FledgeError as e:           # the exporter could not convert this model
        return ExportResult(False, fmt, None, reason=str(e))
    except OSError as e:
        return ExportResult(False, fmt, None, reason=_write_problem(e, parent))
    finally:
        bundle.discard(staging)


class _Stopped(Exception):
    pass


def _build(ckpt: dict, net, predictor, fmt: str, staging: str, report, should_stop) -> ParityReport:
    """Write everything into staging; the parity report (also written there)."""
    def check_stop() -> None:
        if should_stop():
            raise _Stopped

    check_stop()
    report(JobProgress("exporting", 0, 1))
    model_file = write_model_file(net, fmt, int(ckpt["image_size"]),
                                  os.path.join(staging, MODEL_FILES[fmt]))
    meta = bundle.metadata(ckpt, model_file, predictor.cache_size)
    bundle.write_json(os.path.join(staging, bundle.META_FILE), meta)
    bundle.write_text(os.path.join(staging, bundle.SCRIPT_FILE), bundle.template_text(bundle.SCRIPT_FILE))
    report(JobProgress("exporting", 1, 1))
    check_stop()
    exported = _load_script(staging)
    own = dataset_photos(meta["provenance"]["dataset"], DATASET_PHOTOS)
    with tempfile.TemporaryDirectory(prefix="fledge-parity-") as scratch:
        made = generated_photos(scratch, int(ckpt["image_size"]), 6 if own else GENERATED_ONLY)
        try:
            parity = check_parity(predictor, exported, own + made, len(own),
                                  progress=Throttled(report, "checking"), should_stop=should_stop)
        except ParityStopped:
            raise _Stopped from None
    del exported                      # let go of the model file before the folder is renamed
    bundle.write_json(os.path.join(staging, bundle.PARITY_FILE),
                      {**parity.to_dict(), "compared_with": "Fledge's Predictor, PyTorch fp32 on the CPU"})
    bundle.write_text(os.path.join(staging, bundle.README_FILE), bundle.readme(meta, parity.summary()))
    return parity


def _load_script(folder: str):
    """The export's own predict.py, imported from the folder, and its Model: the parity
    check runs the very code a person will run."""
    path = os.path.join(folder, bundle.SCRIPT_FILE)
    spec = importlib.util.spec_from_file_location(f"_fledge_export_predict_{next(_scripts)}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        return module.Model(folder)
    except SystemExit as e:            # predict.py's own words for a missing runtime
        raise FledgeError(str(e.code).removeprefix("predict.py: ")) from None


def _write_problem(e: OSError, parent: str) -> str:
    if e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return (f"The disk holding {parent} is full. Free some space, or choose another place "
                "for the export.")
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"Fledge may not write in {parent}. Choose another place for the export."
    return (f"The export could not be written in {parent} ({e.strerror or e}). Choose another place for "
            "the export.")
