"""The `fledge` command line. Parsers are built without importing torch, so
`fledge --help` and opening the window stay quick."""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time

from core.training.config import OPTIMIZERS, PIPELINES, SCHEDULES
from core.errors import FledgeError


class _Parser(argparse.ArgumentParser):
    """Bad arguments: one clear line and exit status 2, no usage dump."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see '{self.prog} --help')\n")


def _fail(message: str, code: int = 1) -> int:
    print(f"fledge: {message}", file=sys.stderr)
    return code


# -- sample-data ----------------------------------------------------------------------------
def cmd_sample_data(args) -> int:
    from core.data.sample_data import write_sample_data

    from core.data.dataset import scan_dataset

    path = write_sample_data(args.dest, per_class=args.per_class, seed=args.seed)
    print(f"Wrote the sample dataset (birds and planes) to {path}")
    print(scan_dataset(path).summary())
    print(f"Train a model on it with:  fledge train {path}")
    return 0


# -- train ------------------------------------------------------------------------------------
class _Progress:
    """A one-line progress bar on a terminal; one line per epoch otherwise."""

    def __init__(self, stream=sys.stdout) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.last_draw = 0.0

    def __call__(self, ev) -> None:
        from core.training.events import BatchEnd, EpochEnd, FitStarted, Message

        out = self.stream
        if isinstance(ev, FitStarted):
            print(f"Training on {ev.device} ({ev.precision}), {ev.epochs} epochs of {ev.steps_per_epoch} steps. "
                  f"Run folder: {ev.run_dir}", file=out, flush=True)
        elif isinstance(ev, Message):
            self._clear()
            print(("Warning: " if ev.level == "warning" else "") + ev.text, file=out, flush=True)
        elif isinstance(ev, BatchEnd) and self.tty:
            now = time.monotonic()
            if now - self.last_draw < 0.1 and ev.epoch_step != ev.steps_per_epoch:
                return
            self.last_draw = now
            width = 24
            done = int(width * ev.epoch_step / max(1, ev.steps_per_epoch))
            bar = "#" * done + "-" * (width - done)
            out.write(f"\repoch {ev.epoch} [{bar}] {ev.epoch_step}/{ev.steps_per_epoch} "
                      f"loss {ev.loss:.3f} acc {ev.accuracy:.1%} {ev.images_per_s:.0f} img/s "
                      f"ETA {_duration(ev.eta_s)}   ")
            out.flush()
        elif isinstance(ev, EpochEnd):
            self._clear()
            print(f"epoch {ev.epoch}/{ev.epochs}: train loss {ev.train_loss:.4f} acc {ev.train_acc:.1%} | "
                  f"val loss {ev.val_loss:.4f} acc {ev.val_acc:.1%} | lr {ev.lr:.2g} | "
                  f"{ev.images_per_s:.0f} img/s, {ev.seconds:.1f}s", file=out, flush=True)

    def _clear(self) -> None:
        if self.tty:
            self.stream.write("\r" + " " * 100 + "\r")


def _duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def cmd_train(args) -> int:
    from core.training.config import TrainConfig
    from core.data.dataset import scan_dataset
    from core.training.events import TrainControl
    from core.training.trainer import Trainer

    control = TrainControl()
    progress = _Progress()

    def on_sigint(signum, frame):
        if control.stop_requested:
            raise KeyboardInterrupt
        print("\nStopping after this batch (press Ctrl+C again to quit at once)...", file=sys.stderr)
        control.stop()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        if args.resume:
            trainer = Trainer.resume_from(args.resume, callbacks=[progress], control=control)
            print(trainer.dataset.summary())
        else:
            if not args.data:
                return _fail("train needs a DATA folder (or --resume RUN_DIR).", 2)
            config = TrainConfig(
                arch=args.arch, pretrained=args.pretrained, weights_path=args.weights,
                freeze_backbone=args.freeze_backbone, optimizer=args.optimizer, lr=args.lr,
                batch_size=args.batch_size, epochs=args.epochs, image_size=args.image_size,
                schedule=args.schedule, device=args.device, weight_decay=args.weight_decay,
                momentum=args.momentum, augment=not args.no_augment,
                label_smoothing=args.label_smoothing, seed=args.seed, precision=args.precision,
                val_fraction=args.val_fraction, test_fraction=args.test_fraction,
                pipeline=args.pipeline, memory_budget_mb=args.memory_budget_mb, workers=args.workers)
            errors = config.errors()
            if errors:
                return _fail(" ".join(errors.values()), 2)
            dataset = scan_dataset(args.data, val_fraction=config.val_fraction,
                                   test_fraction=config.test_fraction, seed=config.seed)
            print(dataset.summary())
            trainer = Trainer(config, dataset, run_dir=args.out, callbacks=[progress], control=control)
        ended = trainer.fit()
    finally:
        signal.signal(signal.SIGINT, previous)
    if ended.reason == "failed":
        return _fail(ended.message)
    print(ended.message)
    if ended.test_acc is not None:
        print(f"Test accuracy: {ended.test_acc:.1%}")
    if ended.best_model:
        print(f"Best model: {ended.best_model}")
    return 0 if ended.reason == "completed" else 3


# -- predict ----------------------------------------------------------------------------------
def cmd_predict(args) -> int:
    from core.model.predictor import Predictor

    predictor = Predictor.from_checkpoint(args.model, device=args.device)
    preds = predictor.predict_many(args.images, top_k=args.top_k)
    failed = 0
    if args.json:
        print(json.dumps([{"path": p.source, "error": p.error,
                           "top": [{"class": c, "probability": round(pr, 6)} for c, pr in p.top]}
                          for p in preds], indent=2))
    for p in preds:
        if p.error:
            failed += 1
            if not args.json:
                print(f"{p.source}\terror\t{p.error}")
        elif not args.json:
            extra = "".join(f"\t{c}\t{pr:.4f}" for c, pr in p.top[1:]) if args.top_k > 1 and args.verbose else ""
            print(f"{p.source}\t{p.top[0][0]}\t{p.top[0][1]:.4f}{extra}")
    return 1 if failed == len(preds) else 0


# -- runs -------------------------------------------------------------------------------------
def cmd_runs(args) -> int:
    from core.training.runs import list_runs, runs_root

    items = list_runs(args.root)
    if not items:
        print(f"No runs yet in {args.root or runs_root()}.")
        return 0
    for r in items:
        acc = "-" if r.best_val_acc is None else f"{r.best_val_acc:.1%}"
        print(f"{r.name}\t{r.status}\t{r.arch}\tepochs {r.epochs_done}/{r.epochs}\tbest val {acc}\t{r.run_dir}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from core.model.architectures import ARCH_NAMES

    p = _Parser(prog="fledge", description="Train image classifiers on your photo folders, "
                "then use them to sort photos. Run without arguments to open the window.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    s = sub.add_parser("sample-data", help="write the built-in sample dataset (birds and planes)")
    s.add_argument("dest", help="folder to create")
    s.add_argument("--per-class", type=int, default=150, help="images per class (default 150)")
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=cmd_sample_data)

    t = sub.add_parser("train", help="train a model on a folder with one subfolder per class")
    t.add_argument("data", nargs="?", help="dataset folder: DATA/<class>/ or DATA/train|val/<class>/")
    t.add_argument("--arch", default="small_cnn", choices=ARCH_NAMES, metavar="A",
                   help=f"architecture: {', '.join(ARCH_NAMES)} (default small_cnn)")
    t.add_argument("--pretrained", dest="pretrained", action="store_true", default=False,
                   help="start from ImageNet weights (downloaded or cached)")
    t.add_argument("--no-pretrained", dest="pretrained", action="store_false")
    t.add_argument("--weights", default=None, metavar="FILE", help="a local ImageNet weights file")
    t.add_argument("--freeze-backbone", action="store_true", help="train only the new classifier head")
    t.add_argument("--optimizer", default="adamw", choices=OPTIMIZERS, metavar="O",
                   help=f"{', '.join(OPTIMIZERS)} (default adamw)")
    t.add_argument("--lr", type=float, default=1e-3, help="learning rate (default 0.001)")
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--epochs", type=int, default=10)
    t.add_argument("--image-size", type=int, default=None, help="pixels (default: the architecture's)")
    t.add_argument("--schedule", default="cosine", choices=SCHEDULES, metavar="S",
                   help=f"learning-rate schedule: {', '.join(SCHEDULES)} (default cosine)")
    t.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default auto)")
    t.add_argument("--out", default=None, metavar="RUN_DIR", help="run folder (default: a new one under the runs folder)")
    t.add_argument("--resume", default=None, metavar="RUN_DIR", help="continue an interrupted run")
    t.add_argument("--weight-decay", type=float, default=1e-4)
    t.add_argument("--momentum", type=float, default=0.9)
    t.add_argument("--no-augment", action="store_true", help="turn off random crops and flips")
    t.add_argument("--label-smoothing", type=float, default=0.0)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    t.add_argument("--val-fraction", type=float, default=0.2)
    t.add_argument("--test-fraction", type=float, default=0.0)
    t.add_argument("--pipeline", default="auto", choices=PIPELINES,
                   help="auto: keep decoded images in memory when they fit, else stream")
    t.add_argument("--memory-budget-mb", type=int, default=None)
    t.add_argument("--workers", type=int, default=None)
    t.set_defaults(func=cmd_train)

    pr = sub.add_parser("predict", help="classify images with a trained model")
    pr.add_argument("model", help="a model file (.pt) written by fledge train")
    pr.add_argument("images", nargs="+", metavar="IMAGE")
    pr.add_argument("--top-k", type=int, default=1)
    pr.add_argument("--json", action="store_true", help="print JSON")
    pr.add_argument("--verbose", "-v", action="store_true", help="print every top-k class")
    pr.add_argument("--device", default="auto")
    pr.set_defaults(func=cmd_predict)

    r = sub.add_parser("runs", help="list past training runs")
    r.add_argument("--root", default=None, help="runs folder (default: Fledge's own)")
    r.set_defaults(func=cmd_runs)

    from core import bench
    from core.cli import photos

    for module in (photos, bench):
        module.register(sub)
    return p


def wants_window(argv: list[str]) -> bool:
    """`fledge` alone, or `fledge PATH...` (paths to open in the window), opens the app."""
    return not argv or (all(os.path.exists(a) for a in argv) and argv[0] not in _COMMANDS)


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand (the window is started by gui.launcher, never from here)."""
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except FledgeError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return _fail("interrupted.", 130)


_COMMANDS = {"sample-data", "train", "predict", "runs", "evaluate", "classify", "undo", "bench"}

if __name__ == "__main__":
    sys.exit(main())
