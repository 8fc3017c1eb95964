"""Starting a new run from an earlier model's weights (TrainConfig.init_from).

The weights come from a Fledge model file (load_checkpoint: torch.load with weights_only=True).
Same network only: the layers must match one for one. The last layer (the head, one output per
class) is kept when the classes are the same names in the same order; otherwise it is rebuilt for the
new classes (the outputs of the classes both have taken over) and every other layer is carried
(strict=False), as the book chapters load a state_dict into a network with a new head.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from core.errors import FledgeError
from core.model.checkpoints import load_checkpoint
from core.model.networks import get_spec


@dataclass(frozen=True)
class CarriedWeights:
    """What a run took from an earlier model, for its record and its log."""
    source: str                     # the model file
    head_kept: bool                 # the last layer too (same classes, same order)
    carried: int                    # weight tensors taken over
    new: tuple[str, ...]            # the layers rebuilt (the head, for other classes)
    classes_before: tuple[str, ...]
    rows_kept: tuple[str, ...]      # classes of both whose outputs the rebuilt head took over
    message: str

    def to_record(self) -> dict:
        return dict(init_from=self.source, init_from_head_kept=self.head_kept,
                    init_from_classes=list(self.classes_before), init_from_rows_kept=list(self.rows_kept),
                    init_from_message=self.message)


def _label(arch: str) -> str:
    try:
        return get_spec(arch).label or arch
    except FledgeError:
        return str(arch)


def start_model(path: str, arch: str) -> dict:
    """The earlier model's checkpoint, when a run of `arch` can start from it; FledgeError in
    plain words when it cannot (a missing or damaged file, another network)."""
    ckpt = load_checkpoint(path)           # CheckpointError (a FledgeError) for a missing or bad file
    if ckpt["arch"] != arch:
        raise FledgeError(
            f"{path} is a {_label(ckpt['arch'])} network, but this run trains {_label(arch)}. A run can "
            f"only start from a model of the same network: choose {_label(ckpt['arch'])} as the network "
            "(Custom recipe), or start without an earlier model.")
    return ckpt


def carry_weights(model: nn.Module, arch: str, classes, path: str, keep_rows: bool = True) -> CarriedWeights:
    """Load the earlier model at path into model (a fresh `arch` network for `classes`).
    keep_rows: with other classes, the rebuilt head takes over the outputs of the classes both
    have (False: the head stays as model has it, e.g. one just trained for these classes).

    FledgeError in plain words when it cannot start from that model: another network, or
    layers of another size (another image size for a network that depends on it)."""
    ckpt = start_model(path, arch)
    before, classes = tuple(ckpt["classes"]), tuple(str(c) for c in classes)
    head_kept = before == classes
    head = tuple(get_spec(arch).head)
    own = model.state_dict()
    taken = {k: v for k, v in ckpt["state_dict"].items()
             if head_kept or not any(k == h or k.startswith(h + ".") for h in head)}
    wrong = [k for k, v in taken.items() if k in own and tuple(own[k].shape) != tuple(v.shape)]
    if wrong:
        raise FledgeError(
            f"The layers of {path} do not fit this run's network (e.g. {wrong[0]}): it was trained at "
            f"an image size of {ckpt['image_size']} px. Choose that image size, or start without an "
            "earlier model.")
    result = model.load_state_dict(taken, strict=False)
    unknown = list(result.unexpected_keys)
    if unknown:
        raise FledgeError(f"{path} holds layers this {_label(arch)} network does not have (e.g. "
                          f"{unknown[0]}). Choose a model trained with this version of Fledge.")
    new = tuple(sorted({k.rsplit(".", 1)[0] for k in result.missing_keys}))
    kept_rows = () if head_kept or not keep_rows else _carry_class_rows(model, ckpt["state_dict"], head, before, classes)
    name = f"the model {path}"
    if head_kept:
        message = (f"Started from {name}: all {len(taken)} weight tensors carried over, its last layer "
                   f"too (the same classes: {', '.join(classes)}).")
    else:
        added = [c for c in classes if c not in before]
        gone = [c for c in before if c not in classes]
        change = "; ".join(p for p in (f"new: {', '.join(added)}" if added else "",
                                       f"no longer there: {', '.join(gone)}" if gone else "") if p) \
            or "their order changed"
        rows = (f", starting from what it knew of {', '.join(kept_rows)}" if kept_rows else "")
        message = (f"Started from {name}: {len(taken)} weight tensors carried over; its last layer "
                   f"({', '.join(new) or 'the classifier'}) is rebuilt for the new classes ({change}; it "
                   f"knew {', '.join(before)}){rows}.")
    return CarriedWeights(source=str(path), head_kept=head_kept, carried=len(taken), new=new,
                          classes_before=before, rows_kept=kept_rows, message=message)


def _carry_class_rows(model: nn.Module, old: dict, head: tuple[str, ...], before: tuple[str, ...],
                      classes: tuple[str, ...]) -> tuple[str, ...]:
    """Into the rebuilt head, the earlier head's output (weight row, bias) of each class that
    both have: bird and plane answer as before from the first step, only empty starts afresh.
    The classes whose rows were taken over."""
    own = model.state_dict()
    pairs = [(classes.index(c), before.index(c)) for c in classes if c in before]
    done = False
    with torch.no_grad():
        for h in head:
            for part in ("weight", "bias"):
                key = f"{h}.{part}"
                if key not in own or key not in old or own[key].shape[1:] != old[key].shape[1:]:
                    continue
                for new_i, old_i in pairs:
                    own[key][new_i].copy_(old[key][old_i])     # state_dict tensors share the model's storage
                done = True
    return tuple(classes[i] for i, _ in pairs) if done else ()
