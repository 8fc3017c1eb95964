"""Run folders: where each training run keeps its config, metrics and models.

Light module (no torch) so the window can list past runs at start-up.
"""
from __future__ import annotations

import csv
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from core.model.architectures import ARCH_INFO
from core.training.config import TrainConfig, config_options
from core.errors import FledgeError
from core.files.fileio import atomic_write_text, pid_alive
from core.files.user_data import user_data_dir

CONFIG_FILE = "config.json"
RUN_FILE = "run.json"
STATUS_FILE = "status.json"
METRICS_FILE = "metrics.csv"
BATCHES_FILE = "batches.csv"
BEST_MODEL = "best.pt"
LAST_MODEL = "last.pt"
RESUME_FILE = "resume.pt"
ERROR_LOG = "error.log"

EPOCH_FIELDS = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"]
BATCH_FIELDS = ["step", "epoch", "loss", "accuracy", "images_per_s"]


def network_label(arch: str) -> str:
    return ARCH_INFO[arch].label if arch in ARCH_INFO else str(arch)


def runs_root() -> str:
    """$FLEDGE_RUNS if set, else <user data dir>/runs."""
    return str(Path(os.environ.get("FLEDGE_RUNS") or user_data_dir() / "runs"))


def new_run_dir(arch: str, root: str | None = None) -> str:
    """A fresh, unique folder <root>/<YYYYmmdd-HHMMSS>-<arch>, created."""
    root_path = Path(root or runs_root())
    root_path.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1, 1000):
        name = f"{stamp}-{arch}" + ("" if n == 1 else f"-{n}")
        path = root_path / name
        try:
            path.mkdir()
            return str(path)
        except FileExistsError:
            continue
    raise FledgeError(f"Could not create a new run folder in {root_path}.")


def write_json(path, data) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError, RecursionError):      # RecursionError: nested absurdly deep
        return {}


def write_csv_rows(path, fields: list[str], rows: list[dict]) -> None:
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def read_csv_rows(path) -> list[dict]:
    rows: list[dict] = []
    try:
        with open(path, encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                parsed = {}
                for k, v in row.items():
                    if k is None:
                        continue
                    try:
                        num = float(v)
                        parsed[k] = int(num) if k in ("epoch", "step") else num
                    except (TypeError, ValueError):
                        parsed[k] = v
                rows.append(parsed)
    except OSError:
        pass
    return rows


@dataclass(frozen=True)
class RunInfo:
    run_dir: str
    name: str
    started: str
    arch: str
    status: str          # completed | stopped | failed | running | interrupted
    message: str
    best_val_acc: float | None
    epochs_done: int
    epochs: int
    data_root: str
    best_model: str | None
    test_acc: float | None = None
    classes: tuple[str, ...] = ()       # what its models answer, as run.json recorded them


@dataclass
class RunRecord:
    info: RunInfo
    config: TrainConfig
    classes: list[str]
    epochs: list[dict] = field(default_factory=list)
    batches: list[dict] = field(default_factory=list)
    learning_rates: dict[str, float] = field(default_factory=dict)    # learning_rates_used()


def is_run_dir(path) -> bool:
    return (Path(path) / CONFIG_FILE).is_file() and (Path(path) / RUN_FILE).is_file()


def run_dir_of(model_path) -> str:
    """The training run folder a model file belongs to ('' for a model file on its own)."""
    if not model_path:
        return ""
    folder = Path(os.path.abspath(os.fspath(model_path))).parent
    return str(folder) if (folder / CONFIG_FILE).is_file() else ""


def run_info(run_dir) -> RunInfo:
    run_dir = Path(run_dir)
    run = read_json(run_dir / RUN_FILE)
    cfg = read_json(run_dir / CONFIG_FILE)
    status = read_json(run_dir / STATUS_FILE)
    state = status.get("status", "interrupted")
    if state == "running" and not pid_alive(int(status.get("pid", -1))):
        state = "interrupted"
    best = run_dir / BEST_MODEL
    epochs_done = int(status.get("epochs_done", 0))
    if state in ("running", "interrupted"):
        epochs_done = len(read_csv_rows(run_dir / METRICS_FILE))
    message = status.get("message", "")
    if state == "interrupted" and not message:
        message = "The run was interrupted (the program was closed or crashed). It can be resumed."
    return RunInfo(
        run_dir=str(run_dir),
        name=run_dir.name,
        started=run.get("started", ""),
        arch=cfg.get("arch", run.get("arch", "?")),
        status=state,
        message=message,
        best_val_acc=status.get("best_val_acc"),
        epochs_done=epochs_done,
        epochs=int(cfg.get("epochs", 0)),
        data_root=run.get("data_root", ""),
        best_model=str(best) if best.is_file() else None,
        test_acc=status.get("test_acc"),
        classes=_classes(run),
    )


def _classes(run: dict) -> tuple[str, ...]:
    names = run.get("classes")
    return tuple(str(c) for c in names) if isinstance(names, list) else ()


def can_resume(info: RunInfo) -> bool:
    """Whether a run can be continued: it ended early and kept its resume checkpoint."""
    return (info.status in ("stopped", "interrupted", "failed") and info.epochs_done < info.epochs
            and os.path.isfile(os.path.join(info.run_dir, RESUME_FILE)))


def model_classes(model_path) -> tuple[str, ...]:
    """The classes of a model file read from its run folder's run.json (cheap: the model file
    itself is not opened); () for a model file outside a run folder."""
    run_dir = run_dir_of(model_path)
    return _classes(read_json(Path(run_dir) / RUN_FILE)) if run_dir else ()


def start_model_problem(model_path, arch: str) -> str | None:
    """Why a run of `arch` cannot start from model_path, seen cheaply (the model file itself
    is not opened: its run folder's config.json says its network); None when nothing is seen.
    The run itself checks the file in full (core.model.init_from)."""
    if not os.path.isfile(model_path):
        return "The model to start from is no longer there. Choose it again or clear it."
    run_dir = run_dir_of(model_path)
    was = read_json(Path(run_dir) / CONFIG_FILE).get("arch") if run_dir else None
    if isinstance(was, str) and was != arch:
        return (f"That model is a {network_label(was)} network; a run can only start from a model of the "
                f"same network. Choose {network_label(was)} as the network, or clear this.")
    return None


def list_runs(root: str | None = None) -> list[RunInfo]:
    """Every run folder under root, newest first; other folders are ignored."""
    root_path = Path(root or runs_root())
    if not root_path.is_dir():
        return []
    runs = [run_info(p) for p in root_path.iterdir() if p.is_dir() and is_run_dir(p)]
    runs.sort(key=lambda r: (r.started, r.name), reverse=True)
    return runs


def learning_rates_used(run: dict, config: TrainConfig) -> dict[str, float]:
    """The learning rates a run really trained at, by part, from its run.json: "head" (the last
    layer of quick and of thorough's first phase, trained by AdamW before Fledge fit it to
    convergence), "head_l2" (the regularization of that fit: it has no rate) and "network"
    (every layer: thorough's fine-tuning, a custom run's sweep, the rate scaled for several
    processes, else the configured one). config.lr alone can be far from them: a sweep chose the rate."""
    rates = {}
    if _is_rate(run.get("lr_head")):
        rates["head"] = float(run["lr_head"])
    if _is_rate(run.get("head_l2")):
        rates["head_l2"] = float(run["head_l2"])
    if config.recipe != "quick" or not rates:
        network = next((run[k] for k in ("lr_found", "lr_fine_tune", "lr_scaled") if _is_rate(run.get(k))),
                       config.lr)
        rates["network"] = float(network)
    return rates


def _is_rate(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def load_run(run_dir) -> RunRecord:
    run_dir = Path(run_dir)
    if not is_run_dir(run_dir):
        raise FledgeError(f"{run_dir} is not a Fledge run folder (it has no {CONFIG_FILE}).")
    run = read_json(run_dir / RUN_FILE)
    config = TrainConfig.from_dict(read_json(run_dir / CONFIG_FILE))
    return RunRecord(
        info=run_info(run_dir),
        config=config,
        classes=list(_classes(run)),
        epochs=read_csv_rows(run_dir / METRICS_FILE),
        batches=read_csv_rows(run_dir / BATCHES_FILE),
        learning_rates=learning_rates_used(run, config),
    )


# ---------------------------------------------------------------- comparing runs

@dataclass(frozen=True)
class RunCurves:
    """One run's validation curves by epoch (accuracy as a fraction), for an overlay."""
    run_dir: str
    name: str
    epochs: tuple[int, ...]
    val_acc: tuple[float, ...]
    val_loss: tuple[float, ...]


@dataclass(frozen=True)
class SettingRow:
    """One setting across the compared runs, in words; differs when they do not all agree."""
    label: str
    values: tuple[str, ...]
    differs: bool


@dataclass(frozen=True)
class RunComparison:
    runs: tuple[RunCurves, ...]
    settings: tuple[SettingRow, ...]

    @property
    def differing(self) -> tuple[SettingRow, ...]:
        return tuple(row for row in self.settings if row.differs)


def _curves(record: RunRecord) -> RunCurves:
    epochs, acc, loss = [], [], []
    for row in record.epochs:
        e, a, v = row.get("epoch"), row.get("val_acc"), row.get("val_loss")
        if isinstance(e, int) and isinstance(a, float) and isinstance(v, float):
            epochs.append(e)
            acc.append(a)
            loss.append(v)
    return RunCurves(record.info.run_dir, record.info.name, tuple(epochs), tuple(acc), tuple(loss))


def _setting_text(opt, value) -> str:
    if value is None:
        return "—" if opt.kind is str else "automatic"      # no file chosen; a size or count chosen for you
    if isinstance(value, bool):
        return "yes" if value else "no"
    if opt.name == "arch":
        return network_label(value)
    if opt.choices:
        return opt.choice_labels.get(value, str(value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def compare_runs(run_dirs) -> RunComparison:
    """Two or more runs side by side: their validation curves, and every setting of theirs
    (config.json, run.json) in words, marked where they differ. FledgeError for a folder that
    is not a run."""
    records = [load_run(d) for d in run_dirs]
    rows: list[tuple[str, list[str]]] = [
        ("Classes", [", ".join(r.classes) or "?" for r in records]),
        ("Photos", [r.info.data_root for r in records]),
        ("Best validation accuracy", ["—" if r.info.best_val_acc is None else f"{r.info.best_val_acc:.1%}"
                                      for r in records]),
    ]
    rows += [(opt.label, [_setting_text(opt, getattr(r.config, opt.name)) for r in records])
             for opt in config_options()]
    settings = tuple(SettingRow(label, tuple(values), len(set(values)) > 1) for label, values in rows)
    return RunComparison(tuple(_curves(r) for r in records), settings)
