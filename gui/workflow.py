"""How the tabs hand work to each other: the Evaluate, Sort and Review tabs and the loop

train -> evaluate (the model just trained) -> sort a folder -> review the unsure photos
-> retrain with the corrections. The panels know nothing of each other; this module
connects their signals to each other and to the window's own panels.
"""
from __future__ import annotations

import os

from gui.panels.evaluate import EvaluatePanel
from gui.panels.review import ReviewPanel
from gui.panels.sort import SortPanel


def install_loop_panels(window) -> None:
    """Create the three panels, add them as tabs and connect them (call once)."""
    ev, so, rv = EvaluatePanel(), SortPanel(), ReviewPanel()
    window.evaluate_panel, window.sort_panel, window.review_panel = ev, so, rv
    window.add_panel("evaluate", "&Evaluate", ev, "How good is a model: accuracy, per-class figures, "
                     "a confusion matrix, and the photos it gets wrong")
    window.add_panel("sort", "&Sort", so, "Sort a folder of photos into class folders with a model")
    window.add_panel("review", "Revie&w", rv, "Label photos with the keyboard, least certain first, "
                     "and retrain with your corrections")

    status = getattr(window, "status", None)
    for panel in (ev, so, rv):
        if status is not None:
            panel.status_message.connect(status)

    # The dataset chosen in the Data tab is the one to evaluate on and to label into.
    data = getattr(window, "dataset_panel", None)
    if data is not None:
        data.dataset_changed.connect(ev.set_dataset)
        data.dataset_changed.connect(rv.set_dataset)
        if getattr(data, "dataset", None) is not None:
            ev.set_dataset(data.dataset)
            rv.set_dataset(data.dataset)

    # The model just trained (or loaded in the Predict tab) becomes the one to use.
    training = getattr(window, "training_panel", None)
    if training is not None and hasattr(training, "run_finished"):
        def on_run_finished(ended) -> None:
            model = getattr(ended, "best_model", "") or getattr(ended, "last_model", "")
            if model and os.path.isfile(model):
                for panel in (ev, so, rv):
                    panel.set_model(model)
        training.run_finished.connect(on_run_finished)
    predict = getattr(window, "predict_panel", None)
    if predict is not None and hasattr(predict, "model_loaded"):
        def on_model_loaded(path: str) -> None:
            for panel in (ev, so, rv):
                if not panel.model.model_path():
                    panel.set_model(path)
        predict.model_loaded.connect(on_model_loaded)

    # Sort -> review the unsure photos; evaluate -> review a confusion-matrix cell.
    def review_folder(folder: str, known, model_path: str) -> None:
        rv.open_folder(folder, recursive=False, known=known, model_path=model_path)
        window.show_panel("review")
    so.review_requested.connect(review_folder)

    def review_cell(items, dataset_root: str) -> None:
        if ev.model.model_path():
            rv.set_model(ev.model.model_path())
        rv.set_items(items, "the confusion-matrix cell", dataset_root)
        window.show_panel("review")
    ev.review_requested.connect(review_cell)

    # Labels change the dataset: the Data tab reads it again when it is next shown.
    stale: set[str] = set()

    def labels_changed(root: str) -> None:
        stale.add(os.path.normcase(os.path.abspath(root)))
    ev.labels_changed.connect(labels_changed)
    rv.labels_changed.connect(labels_changed)

    def rescan_if_stale(_index: int) -> None:
        if data is None or window.tabs.currentWidget() is not data:
            return
        ds = getattr(data, "dataset", None)
        key = os.path.normcase(os.path.abspath(ds.root)) if ds is not None else ""
        if key in stale and not data.is_busy():
            stale.discard(key)
            data.open_folder(ds.root)
    if data is not None and hasattr(window, "tabs"):
        window.tabs.currentChanged.connect(rescan_if_stale)

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
                training.apply_config(load_run(run_dir).config)
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
