"""A trained model's summary in plain words: what network, which classes, how big, how it was
trained (only the settings its optimizer and schedule took), how well it did and its review
thresholds. One formatter for `fledge info MODEL` and the Runs tab."""
from __future__ import annotations

from core.model.architectures import ARCH_INFO
from core.training.config import TrainConfig, config_options
from core.training.optimizer_rules import KNOBS, applies
from core.training.runs import learning_rates_used

_OPTIONS = {opt.name: opt for opt in config_options()}
# The training settings a summary names (the optimizer's and schedule's own follow them).
_TRAINING = ("recipe", "epochs", "batch_size", "augment", "label_smoothing", "class_weighting", "seed")


def model_summary(path) -> str:
    """The summary of the model a .pt file or a run folder (its best.pt) holds; FledgeError or
    CheckpointError, in plain words, when there is none or it cannot be read."""
    # Late, as in summary_lines: torch; the window imports this module at start-up (the Runs tab).
    from core.model.checkpoints import load_checkpoint
    from core.model.export.loading import resolve_model_path

    return format_summary(summary_lines(load_checkpoint(resolve_model_path(path, exports=False))))


def format_summary(lines: list[tuple[str, str]]) -> str:
    width = max(len(label) for label, _ in lines) + 2
    return "\n".join(f"{label + ':':<{width}}{text}" for label, text in lines)


def summary_lines(ckpt: dict) -> list[tuple[str, str]]:
    """(label, text) for each line of a loaded checkpoint's summary (core.model.checkpoints)."""
    from core.model.networks import network_size

    arch, classes, metrics = ckpt["arch"], list(ckpt["classes"]), ckpt.get("metrics") or {}
    config = TrainConfig.from_dict(ckpt.get("config") or {})
    info = ARCH_INFO.get(arch)
    pretrained = metrics.get("pretrained_used")
    network = f"{info.label if info else arch} ({arch})"
    if pretrained is not None:
        network += ", started from ImageNet weights" if pretrained else ", trained from scratch"
    lines = [("Model", str(ckpt.get("path", ""))), ("Network", network),
             ("Size", network_size(arch, len(classes), int(ckpt["image_size"])).words),
             ("Classes", f"{len(classes)}: {', '.join(classes)}"),
             ("Image size", f"{ckpt['image_size']} px")]
    if ckpt.get("created"):
        lines.append(("Trained", f"{str(ckpt['created']).replace('T', ' ')[:16]}, PyTorch {ckpt.get('torch_version', '?')}"))
    lines += training_lines(config, learning_rates_used(metrics, config))
    lines += _metric_lines(metrics)
    if split := ckpt.get("split"):
        lines.append(("Split", f"{split.get('val_fraction', 0):.0%} for validation, {split.get('test_fraction', 0):.0%} "
                               f"for testing (split seed {split.get('seed', 0)})"))
    lines.append(("Thresholds", _threshold_words(ckpt.get("thresholds"))))
    return lines


def rates_words(rates: dict[str, float]) -> str:
    """The learning rates a run used (core.training.runs.learning_rates_used), in words."""
    head, network = rates.get("head"), rates.get("network")
    if "head_l2" in rates:          # the last layer fit to convergence (core.training.quick): no rate
        fit = f"the last layer fit to convergence (regularization {rates['head_l2']:.2g})"
        return f"{fit}, then learning rate {network:.2g} for every layer" if network is not None else fit
    if head is not None and network is not None:
        return f"learning rate {head:.2g} for the last layer, then {network:.2g} for every layer"
    if head is not None:
        return f"learning rate {head:.2g} (only the last layer learnt)"
    return f"learning rate {network:.2g}" if network is not None else "learning rate unknown"


def training_lines(config: TrainConfig, rates: dict[str, float] | None = None) -> list[tuple[str, str]]:
    """The settings a run used, the optimizer's and schedule's own only where they took them;
    rates: the learning rates it really trained at (a sweep may have chosen them), else config.lr."""
    used = [n for n in KNOBS if applies(n, config.optimizer, config.schedule)]
    rate = rates_words(rates) if rates else f"learning rate {config.lr:g}"
    name = _choice("optimizer", config.optimizer)
    if rates and "head_l2" in rates:
        name = "L-BFGS" if "network" not in rates else f"L-BFGS, then {name}"
    optimizer = [f"{name}, {rate}"]
    if name != "L-BFGS":            # the optimizer's settings, where it trained anything
        optimizer += [_knob_words(n, getattr(config, n)) for n in used if n in _OPTIMIZER_KNOBS]
    schedule = [_choice("schedule", config.schedule)]
    schedule += [_knob_words(n, getattr(config, n)) for n in used if n not in _OPTIMIZER_KNOBS]
    return [("Recipe", config.recipe), ("Optimizer", "; ".join(optimizer)), ("Schedule", "; ".join(schedule)),
            *[(_OPTIONS[n].label, _value(n, getattr(config, n))) for n in _TRAINING if n != "recipe"]]


_OPTIMIZER_KNOBS = frozenset({"momentum", "nesterov", "dampening", "weight_decay", "beta1", "beta2", "amsgrad",
                              "alpha", "centered", "rho"})


def _knob_words(name: str, value) -> str:
    if name == "step_size":
        return f"a step every {value} epochs" if value else "a step every third of the epochs"
    if name == "milestones":
        return f"steps after epochs {value}" if str(value).strip() else "steps at 50% and 75% of the epochs"
    return f"{_OPTIONS[name].label.lower()} {_value(name, value)}"


def _choice(name: str, value) -> str:
    return _OPTIONS[name].choice_labels.get(value, str(value))


def _value(name: str, value) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if _OPTIONS[name].choices:
        return _choice(name, value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _metric_lines(metrics: dict) -> list[tuple[str, str]]:
    lines = []
    if "val_acc" in metrics:
        text = f"{metrics['val_acc']:.1%} correct on the validation photos"
        if "val_loss" in metrics:
            text += f" (loss {metrics['val_loss']:.3g})"
        if "epoch" in metrics:
            text += f", best at epoch {metrics['epoch']}"
        lines.append(("Validation", text))
    if "train_acc" in metrics:
        lines.append(("Training", f"{metrics['train_acc']:.1%} correct on the training photos"
                                  + (f" (loss {metrics['train_loss']:.3g})" if "train_loss" in metrics else "")))
    if metrics.get("test_acc") is not None:
        lines.append(("Test", f"{metrics['test_acc']:.1%} correct on the test photos"))
    return lines


def _threshold_words(record) -> str:
    if not isinstance(record, dict) or not record.get("classes"):
        return "none set: each photo goes to its most likely class"
    parts = [f"{name} {value:.2f}" for name, value in record["classes"].items()]
    review = record.get("review") or {}
    if review:
        parts.append("always reviewed: " + ", ".join(review))
    return ", ".join(parts)
