"""How the tabs hand work to each other: small named connections the window makes once.

train -> evaluate (the model just trained) -> sort a folder -> review the unsure photos
-> retrain with the corrections. The panels know nothing of each other; each function
here connects a few of their signals (the window calls them, see MainWindow._connect).
"""
from __future__ import annotations

import os

from gui.model_store import ModelStore


def _key(root: str) -> str:
    return os.path.normcase(os.path.abspath(root))


def share_dataset(data, training, evaluate, review) -> None:
    """The dataset chosen in the Data tab is the one to train on, evaluate on and label into."""
    for panel in (training, evaluate, review):
        data.dataset_changed.connect(panel.set_dataset)
        if data.dataset is not None:
            panel.set_dataset(data.dataset)


def share_models(models: ModelStore, training, evaluate, sort, review) -> None:
    """The model just trained becomes the one to evaluate, sort and review with; a model opened
    in the window (the Predict tab) is used by those tabs that have none yet."""
    panels = (evaluate, sort, review)

    def on_run_finished(ended) -> None:
        model = ended.best_model or ended.last_model
        if model and os.path.isfile(model):
            for panel in panels:
                panel.set_model(model)
    training.run_finished.connect(on_run_finished)

    def on_model_changed(path: str) -> None:
        for panel in panels:
            if not panel.model.model_path():
                panel.set_model(path)
    models.changed.connect(on_model_changed)


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
