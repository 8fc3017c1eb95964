"""`fledge train`: its options come from TrainConfig's table of fields (core.training.config),
plus the dataset split, which the scanned Dataset owns."""
from __future__ import annotations

import argparse
import math
import os
import sys
import time

from core.cli.console import StatusLine, command, ctrl_c_stops, fail
from core.errors import FledgeError, UsageError
from core.training.config import Option, config_options
from core.training.optimizer_rules import KNOBS, USUAL_LR
from core.training.runs import CONFIG_FILE, read_json, run_dir_of
from core.training.events import EXTRACT_PIPELINE, BatchEnd, EpochEnd, FitEnded, FitStarted, Message, TrainControl


class TrainProgress:
    """The training events on stdout: a line per epoch, and within the epochs (and while the
    quick recipe reads the photos) a progress line: redrawn in place on a terminal, a plain
    line every few seconds in a pipe or a log (core.cli.console.StatusLine)."""

    def __init__(self, stream=None, clock=time.monotonic) -> None:
        self.line = StatusLine(sys.stdout if stream is None else stream, clock)
        self.reading = False

    def __call__(self, ev) -> None:
        if isinstance(ev, FitStarted):
            self.reading = ev.pipeline == EXTRACT_PIPELINE      # the quick recipe reads the photos first
            if not self.reading:
                self.line.say(f"Training on {ev.device} ({ev.precision}), {ev.epochs} epochs of "
                              f"{ev.steps_per_epoch} steps. Run folder: {ev.run_dir}")
        elif isinstance(ev, Message):
            self.line.say(("Warning: " if ev.level == "warning" else "") + ev.text)
        elif isinstance(ev, BatchEnd):
            self.line.show(self._batch_line(ev), force=ev.epoch_step == ev.steps_per_epoch)
        elif isinstance(ev, EpochEnd):
            lr = "" if math.isnan(ev.lr) else f"lr {ev.lr:.2g} | "      # nan: the quick head has no rate
            self.line.say(f"epoch {ev.epoch}/{ev.epochs}: train loss {ev.train_loss:.4f} acc {ev.train_acc:.1%} | "
                          f"val loss {ev.val_loss:.4f} acc {ev.val_acc:.1%} | {lr}"
                          f"{ev.images_per_s:.0f} img/s, {ev.seconds:.1f}s")
        elif isinstance(ev, FitEnded):
            self.line.clear()

    def _batch_line(self, ev: BatchEnd) -> str:
        done, total = ev.epoch_step, max(1, ev.steps_per_epoch)
        bar = ""
        if self.line.tty:
            width = 24
            filled = int(width * done / total)
            bar = f"[{'#' * filled}{'-' * (width - filled)}] "
        if self.reading:
            return (f"reading photos {bar}{done}/{ev.steps_per_epoch} {ev.images_per_s:.0f} photos/s "
                    f"ETA {_duration(ev.eta_s)}")
        return (f"epoch {ev.epoch} {bar}{done}/{ev.steps_per_epoch} loss {ev.loss:.3f} acc {ev.accuracy:.1%} "
                f"{ev.images_per_s:.0f} img/s ETA {_duration(ev.eta_s)}")


def _duration(seconds: float) -> str:
    if seconds != seconds:          # NaN: not known yet
        return "?"
    seconds = int(max(0, seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _new_trainer(args, progress, control, cls=None):
    """A Trainer for a new run from the command line; UsageError for options it cannot take."""
    from core.data.dataset import scan_dataset
    from core.data.split import SplitSettings
    from core.training.recipe_rules import resolve
    from core.training.trainer import Trainer

    if not args.data:
        raise UsageError("train needs a DATA folder (or --resume RUN_DIR).")
    config, notes = resolve(_train_config(args))
    print(f"Recipe: {config.recipe} ({_why_recipe(args, config.recipe)})")
    for note in notes:
        print(note)
    split = SplitSettings(args.split_seed, args.val_fraction, args.test_fraction)
    problems = _unused_knobs(args, config) + list(config.errors().values()) + [p for p in [split.problem()] if p]
    if problems:
        raise UsageError(" ".join(problems))
    dataset = scan_dataset(args.data, **split.to_dict())
    print(dataset.summary())
    return (cls or Trainer)(config, dataset, run_dir=args.out, callbacks=[progress], control=control)


def _train_config(args):
    """The TrainConfig of a new run that the command line asks for (before its recipe is applied)."""
    from core.training.config import TrainConfig
    from core.training.recipe_rules import backbone_of

    values = {opt.name: getattr(args, opt.name) for opt in config_options()}
    values.update({name: getattr(TrainConfig, name) for name in KNOBS if values[name] is None})
    values["recipe"] = _recipe_of(args)
    values["arch"] = args.arch or _model_network(args) or TrainConfig.arch
    values["backbone"] = args.backbone or backbone_of(_model_network(args) or "") or TrainConfig.backbone
    values["lr"], values["auto_lr"] = _lr_of(args, values["recipe"])
    values["gpus"] = args.gpus or TrainConfig.gpus
    return TrainConfig(**values)


def _unused_knobs(args, config) -> list[str]:
    """Why each optimizer or schedule setting given on the command line would do nothing with
    the chosen optimizer and schedule (core.training.optimizer_rules)."""
    from core.training.optimizer_rules import applies, not_used_message

    if config.recipe == "quick":
        return []                       # its head trains with its own optimizer (core.training.quick)
    return [not_used_message(name, config.optimizer, config.schedule) for name in KNOBS
            if getattr(args, name, None) is not None and not applies(name, config.optimizer, config.schedule)]


def _lr_value(text: str):
    """--lr: a number, or "auto" for the learning-rate finder."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a learning rate: give a number such as 0.001, "
                                         "or auto to find one") from None


def _lr_of(args, recipe: str) -> tuple[float, bool]:
    """(lr, auto_lr): --lr auto or --auto-lr find it; a number given is used as it is; with
    neither, the optimizer's usual rate (the quick and thorough recipes set their own)."""
    from core.training.config import TrainConfig
    from core.training.optimizer_rules import usual_lr

    if args.lr == "auto":
        return TrainConfig.lr, True
    if args.auto_lr is not None:
        return (args.lr if args.lr is not None else TrainConfig.lr), args.auto_lr
    if args.lr is not None:
        return args.lr, False
    if recipe != "custom":
        return TrainConfig.lr, False
    return usual_lr(args.optimizer), False


def _why_recipe(args, recipe: str) -> str:
    if args.recipe is not None:
        return "as chosen with --recipe"
    if _model_network(args):
        return "the network of the model given with --init-from"
    if recipe == "custom":
        return "a network was named with --arch; --recipe quick for the pretrained shortcut"
    return ("no --arch given: a pretrained network of which only the last layer learns, in seconds; "
            "--recipe thorough to fine-tune it all, --arch A to choose the network")


def _recipe_of(args) -> str:
    """--recipe as given; else custom when a network was named (or the --init-from model's), the
    default recipe when not."""
    from core.training.recipe_rules import backbone_of, recipe_for

    network = _model_network(args)
    if network is not None and backbone_of(network) is not None:
        return "thorough"            # an installed network, fine-tuned from that model
    return recipe_for(args.recipe, args.arch or network)


def _model_network(args) -> str | None:
    """The network of the --init-from model, from its run folder, when neither --arch nor --recipe
    says which to train: continuing from a model trains that model's network (thorough for the
    installed one: quick does not start from a model)."""
    if not args.init_from or args.arch is not None or args.recipe is not None:
        return None
    run_dir = run_dir_of(args.init_from)
    arch = read_json(os.path.join(run_dir, CONFIG_FILE)).get("arch") if run_dir else None
    return arch if isinstance(arch, str) else None


def _make_trainer(args, progress, control, cls):
    if args.resume:
        trainer = cls.resume_from(args.resume, callbacks=[progress], control=control)
        print(trainer.dataset.summary())
        return trainer
    return _new_trainer(args, progress, control, cls)


def _distributed(args) -> int | None:
    """Under torchrun (started by hand, e.g. on each of several machines): this process's part of
    the job. With --gpus N>1 (or resuming a run that used several): a torchrun job of N processes
    that this one follows (core.training.launcher). Else None: train in this process."""
    from core.training import distributed
    from core.training.recipes import can_run_on

    if distributed.launched_by_torchrun():
        return _rank_of_job(args)
    config = _asked_config(args)
    n = distributed.process_count(args.gpus or config.gpus)
    if n <= 1:
        return None
    import torch        # late, as every import here: `fledge --help` stays quick

    if torch.cuda.is_available() and n > torch.cuda.device_count():
        raise FledgeError(f"--gpus {n}: this computer has {torch.cuda.device_count()} GPUs. Choose at most that many.")
    if problem := can_run_on(config, n):
        raise UsageError(f"--gpus {n}: {problem} Leave --gpus out, or name the network with --arch and give --lr.")
    return _supervise(args, n)


def _asked_config(args):
    """The settings of the run the command line asks for: a new one, or the one to resume."""
    from pathlib import Path

    from core.training import runs
    from core.training.config import TrainConfig

    if args.resume:
        return TrainConfig.from_dict(runs.read_json(Path(args.resume) / runs.CONFIG_FILE))
    return _train_config(args)


def _supervise(args, n: int) -> int:
    """The run as a torchrun job of n processes: rank 0's events are printed here; the first
    Ctrl+C stops every process after the current batch, the second ends them."""
    from core.training.distributed_fit import run_training
    from core.training.trainer import Trainer

    print(f"Starting {n} training processes with torchrun.", flush=True)
    trainer = _make_trainer(args, TrainProgress(), TrainControl(), Trainer)
    ended = run_training(trainer, n, ctrl_c="stop", notice=lambda text: print("\n" + text, file=sys.stderr))
    return _report_end(ended)


def _rank_of_job(args) -> int:
    """One process of a job started by hand under torchrun: rank 0 prints for all."""
    from core.training.distributed_trainer import DistributedTrainer
    from core.training.worker import train_rank

    info, ended = train_rank(lambda control: _make_trainer(args, TrainProgress(), control, DistributedTrainer),
                             getattr(args, "device", None) or "auto")
    if info.is_main:
        return _report_end(ended)
    if ended.reason == "failed":
        print(f"fledge ({info.describe()}): {ended.message}", file=sys.stderr)
        return 1
    return 0


def _report_end(ended) -> int:
    if ended.reason == "failed":
        return fail(ended.message)
    print(ended.message)
    if ended.test_acc is not None:
        print(f"Test accuracy: {ended.test_acc:.1%}")
    if ended.best_model:
        print(f"Best model: {ended.best_model}")
    return 0 if ended.reason == "completed" else 3


@command
def cmd_train(args) -> int:
    from core.training.trainer import Trainer       # imports torch: not while building the parser

    if (code := _distributed(args)) is not None:
        return code
    control = TrainControl()
    with ctrl_c_stops(on_stop=control.stop, what="this batch"):
        ended = _make_trainer(args, TrainProgress(), control, Trainer).fit()
    return _report_end(ended)


def _help(opt: Option) -> str:
    """The option's help for --help: its sentence, the choices its metavar hides, the default."""
    text = opt.help
    if opt.choices and opt.metavar:
        text += f" Choose from: {', '.join(map(str, opt.choices))}."
    if opt.default not in (None, "") and opt.kind is not bool:
        text += f" (default {opt.default:g})" if opt.kind is float else f" (default {opt.default})"
    return text.replace("%", "%%")          # argparse formats help with %


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """One option per TrainConfig field, named, typed and explained by the field's Option;
    a yes/no field gets --name and --no-name."""
    for opt in config_options():
        if opt.kind is bool:
            flag = opt.cli_flag
            if opt.name == "auto_lr":       # unset: the recipe decides (_lr_of)
                on, default = f"{_help(opt)} (default: on for quick and thorough)".replace("%", "%%"), None
            else:
                on = f"{_help(opt)} (default {'on' if opt.default else 'off'})".replace("%", "%%")
                default = None if opt.name in KNOBS else opt.default
            parser.add_argument(flag, dest=opt.name, action="store_true", default=default, help=on)
            parser.add_argument("--no-" + flag[2:], dest=opt.name, action="store_false",
                                help=f"the opposite of {flag}")
            continue
        # No --recipe and no --arch: a newcomer's run, the default recipe (see _recipe_of); no
        # --lr: the recipe decides (_lr_of).
        # No --gpus: one process, or as many as a resumed run used (_distributed).
        # No optimizer or schedule setting: its default, and given ones are checked against the
        # optimizer and schedule chosen (_unused_knobs).
        default = None if opt.name in ("recipe", "backbone", "arch", "lr", "gpus", *KNOBS) else opt.default
        kind = _lr_value if opt.name == "lr" else opt.kind
        text = _help(opt)
        if opt.name == "lr":
            text += (" Or auto: find it with a short sweep first (the default of the quick and thorough "
                     "recipes). Custom runs without --lr use the optimizer's usual rate ("
                     + ", ".join(f"{o} {r:g}" for o, r in USUAL_LR.items()) + ").")
        parser.add_argument(opt.cli_flag, dest=opt.name, type=kind, default=default,
                            choices=opt.choices or None, metavar=opt.metavar or None, help=text)


def add_split_options(parser: argparse.ArgumentParser) -> None:
    """How a folder without its own val/ (or test/) folder is split; recorded with the model."""
    from core.data.split import SplitSettings

    d = SplitSettings()
    g = parser.add_argument_group("dataset split (for a folder without val/ or test/ folders)")
    g.add_argument("--val-fraction", type=float, default=d.val_fraction,
                   help=f"share of each class set aside for validation (default {d.val_fraction:g})")
    g.add_argument("--test-fraction", type=float, default=d.test_fraction,
                   help=f"share of each class set aside for a final test (default {d.test_fraction:g})")
    g.add_argument("--split-seed", type=int, default=d.seed,
                   help=f"which photos go to which share; separate from --seed (default {d.seed})")


def register(subparsers) -> None:
    """Add the train command to an argparse subparsers object."""
    t = subparsers.add_parser("train", help="train a model on a folder with one subfolder per class")
    t.add_argument("data", nargs="?", help="dataset folder: DATA/<class>/ or DATA/train|val/<class>/")
    t.add_argument("--out", default=None, metavar="RUN_DIR", help="run folder (default: a new one under the runs folder)")
    t.add_argument("--resume", default=None, metavar="RUN_DIR", help="continue an interrupted run")
    add_config_options(t)
    add_split_options(t)
    t.set_defaults(func=cmd_train)
