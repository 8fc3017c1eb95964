"""The background job of the Check labels queue: read the dataset, check it, leave out the kept photos.

Everything here runs on a gui.background job thread and only calls core; the result
is a CheckOutcome the view shows.
"""
from __future__ import annotations

from dataclasses import dataclass

from core.progress import JobProgress, Throttled
from core.wording import percent, plural

CHECK_STAGES = {"scanning": "Looking at the photos", "duplicates": "Looking for copies",
                "reading": "Reading the photos with the pretrained network", "checking": "Cross-checking the labels"}


@dataclass
class CheckOutcome:
    check: object          # core.photos.check_labels.LabelCheck
    to_ask: list           # its suggestions without the photos kept before, most likely wrong first
    kept_before: int       # suggestions left out because a person kept them
    labels: object         # core.photos.dataset_labels.DatasetLabels of the dataset
    kept: object           # core.photos.kept_labels.KeptLabels of the dataset

    @property
    def summary(self) -> str:
        check, n = self.check, len(self.to_ask)
        if n:
            text = (f"{plural(n, 'photo')} may be filed under the wrong class, most likely first "
                    f"(of {plural(check.checked, 'photo')} checked). For each, the class it is filed as, the "
                    f"class it looks like to a model that never saw it, and how sure that model is.")
        else:
            text = f"No photo looks filed under the wrong class ({plural(check.checked, 'photo')} checked)."
        if self.kept_before:
            text += f" {plural(self.kept_before, 'photo')} you kept before {'is' if self.kept_before == 1 else 'are'}" \
                    " not asked about again."
        if check.checked and check.accuracy == check.accuracy:          # not NaN
            text += f" The cross-check named {percent(check.accuracy)} of the photos' classes right."
        dup = check.duplicates
        if dup is not None and dup.leaking:
            text += f" {plural(len(dup.leaking), 'photo')} {'is' if len(dup.leaking) == 1 else 'are'} in " \
                    "training and validation at once: the Data tab offers to keep one copy."
        if check.skipped:
            n = len(check.skipped)
            text += f" {plural(n, 'photo')} could not be read and {'was' if n == 1 else 'were'} left out."
        return text


def check_labels_task(root: str):
    """A gui.background task: scan root, check its labels, and open its labels and kept decisions."""
    def task(report, control) -> CheckOutcome:
        from core.data.dataset import scan_dataset
        from core.photos.check_labels import check_labels
        from core.photos.dataset_labels import DatasetLabels
        from core.photos.kept_labels import KeptLabels

        dataset = scan_dataset(root, progress=Throttled(report, "scanning"))
        stages: dict[str, Throttled] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage == "checking":           # counts folds, not photos: a moving stripe says enough
                report(JobProgress(stage))
            else:
                stages.setdefault(stage, Throttled(report, stage))(done, total)

        check = check_labels(dataset, progress=progress, should_stop=lambda: control.stop_requested)
        labels, kept = DatasetLabels(dataset.root), KeptLabels(dataset.root)
        to_ask, kept_before = kept.to_ask(check.suggestions)
        return CheckOutcome(check, to_ask, kept_before, labels, kept)
    return task
