"""How the tabs hand work to each other: small named connections the window makes once.

train -> evaluate (the model just trained) -> sort a folder -> review the unsure photos
-> retrain with the corrections; the window's model and dataset are carried from tab to
tab and to the next start. The panels know nothing of each other; each function here
connects a few of their signals (the window calls them, see MainWindow._connect).
"""
from __future__ import annotations

import os

from core.photos.review_queue import class_mismatch
from gui.model_store import ModelStore
from gui.settings import LAST_DATASET, Settings


def _key(root: str) -> str:
    return os.path.normcase(os.path.abspath(root))


def share_dataset(data, *panels) -> None:
    """The dataset chosen in the Data tab is the one to train on, evaluate on, label into, and
    whose classes the model sorting photos should know."""
    for panel in panels:
        data.dataset_changed.connect(panel.set_dataset)
        if data.dataset is not None:
            panel.set_dataset(data.dataset)


def share_models(models: ModelStore, training, evaluate, sort, review) -> None:
    """One model for every tab, the store's: the model just trained becomes it, and so does
    a model chosen in any tab (or opened in Predict); every tab then shows the store's model."""
    panels = (evaluate, sort, review)

    def follow(path: str) -> None:
        for panel in panels:
            panel.set_model(path)
    models.changed.connect(follow)

    def trained(ended) -> None:
        if models.use_finished_run(ended):
            follow(models.loading_path())       # at once: the tabs need not wait for the store
    training.run_finished.connect(trained)

    def chosen(path: str) -> None:
        if path:
            models.offer(path)
    for panel in panels:
        panel.model.model_changed.connect(chosen)


def carry_dataset_forward(settings: Settings, data) -> None:
    """The dataset last opened opens again at the next start, when its folder is still there."""
    def remember(dataset) -> None:
        if dataset is not None:
            settings.set(LAST_DATASET, dataset.root)
    data.dataset_changed.connect(remember)
    last = settings.get(LAST_DATASET)
    if last and os.path.isdir(last) and data.dataset is None and not data.is_busy():
        data.reopen(last)


UNFIT_STATUS_MS = 15000        # the status-bar line; the Data tab keeps saying it while it holds


def warn_unfit_model(window, data, models: ModelStore) -> None:
    """Say so (Data tab and status bar) when the window's model was made for other classes
    than the open dataset's."""
    shown = [""]

    def clear_status(*_args) -> None:
        if shown[0] and window.statusBar().currentMessage() == shown[0]:
            window.statusBar().clearMessage()

    def check(*_args) -> None:
        dataset, predictor = data.dataset, models.predictor()
        problem = ""
        if dataset is not None and predictor is not None:
            name = os.path.basename(os.path.normpath(dataset.root)) or dataset.root
            problem = class_mismatch(predictor.classes, dataset.classes, f"the dataset {name}")
        line = ""
        if problem:
            model = os.path.basename(models.path())
            problem = f"The model {model} does not fit this dataset. {problem}"
            line = f"The model {model} does not fit this dataset: see the Data tab."   # one line: the bar's width
            window.status(line, UNFIT_STATUS_MS)
        else:
            clear_status()          # the warning no longer holds
        shown[0] = line
        data.show_model_warning(problem)
    models.loading.connect(clear_status)        # another model: the line was about the last one
    models.changed.connect(check)
    data.dataset_changed.connect(check)


def reuse_runs(window, training, runs) -> None:
    """A past run's settings, or the run itself, continue in the Train tab."""
    def use_settings(config) -> None:
        if training.is_running():
            window.status("Settings can be changed when the current training has ended.")
            return
        training.form.apply_config(config)
        window.show_panel("train")
    runs.settings_requested.connect(use_settings)

    def resume(run_dir: str) -> None:
        if training.resume_run(run_dir):
            window.show_panel("train")
    runs.resume_requested.connect(resume)


def review_what_needs_it(window, evaluate, sort, review) -> None:
    """Sort -> review the unsure photos; Evaluate -> review a confusion-matrix cell."""
    def review_folder(folder: str, known, model_path: str) -> None:
        review.open_folder(folder, recursive=False, known=known, model_path=model_path)
        window.show_panel("review")
    sort.review_requested.connect(review_folder)
    review.labels_changed.connect(sort.remember_labelling)   # Undo this sort finds those photos there
    sort.undo_finished.connect(review.sort_undone)           # the photos it put back leave Review's list

    def review_cell(items, dataset_root: str) -> None:
        if evaluate.model.model_path():
            review.set_model(evaluate.model.model_path())
        review.set_items(items, "the confusion-matrix cell", dataset_root)
        window.show_panel("review")
    evaluate.review_requested.connect(review_cell)


def rescan_after_labelling(window, data, evaluate, review) -> set[str]:
    """Labels change the dataset: the Data tab reads it again when it is next shown.

    Returns the set of dataset roots (normalised) waiting to be read again.
    """
    stale: set[str] = set()

    def labels_changed(root: str) -> None:
        stale.add(_key(root))
    evaluate.labels_changed.connect(labels_changed)
    review.labels_changed.connect(labels_changed)

    def rescan_if_stale(_index: int) -> None:
        if window.tabs.currentWidget() is not data or data.dataset is None:
            return
        root = data.dataset.root
        if _key(root) in stale and not data.is_busy():
            stale.discard(_key(root))
            data.open_folder(root)
    window.tabs.currentChanged.connect(rescan_if_stale)
    return stale


def connect_start_labelling(window, data, rv) -> None:
    """The Data tab's offer for an unsorted folder: its photos go to Review, to be labelled
    into the new dataset made next to it."""
    def start(folder: str, root: str) -> None:
        if rv.start_labelling(folder, root):
            window.show_panel("review")
            rv.status_message.emit(f"Label the photos with the keys 1–9; they are copied into {root}.")
    data.label_requested.connect(start)


def connect_retrain(window, training, data, rv, stale: set[str]) -> None:
    """Review's "Retrain with corrections" (stale: see rescan_after_labelling)."""
    status = window.status

    # Retrain with corrections: the run's settings, the corrected dataset read afresh, Start.
    def retrain(run_dir: str) -> None:
        if training is None or data is None:
            return
        if training.is_running():
            rv.message_bar.show_message("A training run is going on; retrain when it has ended.", "info")
            return
        if run_dir:
            from core.errors import FledgeError
            from core.training.runs import load_run

            try:
                training.form.apply_config(load_run(run_dir).config)
            except (OSError, FledgeError) as exc:
                rv.message_bar.show_message(f"Could not read the settings of {run_dir}: {exc} "
                                            "The Train tab's current settings are used instead.", "warning")
        root = rv.dataset_root()
        stale.discard(os.path.normcase(os.path.abspath(root)))

        def scanned(dataset) -> None:
            data.dataset_changed.disconnect(scanned)
            if dataset is not None and os.path.normcase(os.path.abspath(dataset.root)) != \
                    os.path.normcase(os.path.abspath(root)):
                rv.message_bar.show_message("Another dataset was opened in the Data tab, so retraining "
                                            "did not start.", "info")
                return
            if dataset is None:
                rv.message_bar.show_message(
                    "The corrected dataset cannot be used for training yet: see the Data tab.")
                window.show_panel("data")
                return
            # The window passed the dataset to the training panel before this slot runs.
            if training.dataset is not dataset:
                training.set_dataset(dataset)
            window.show_panel("train")
            if not training.start():
                problem = training.start_problem() if hasattr(training, "start_problem") else ""
                text = f"Training could not start: {problem or 'see the Train tab.'}"
                rv.message_bar.show_message(text, "info")
                if status is not None:
                    status(text)
        data.dataset_changed.connect(scanned)
        data.open_folder(root)
    rv.retrain_requested.connect(retrain)
