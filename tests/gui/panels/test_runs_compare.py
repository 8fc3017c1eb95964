"""The Runs tab: two or more runs compared (curves overlaid, settings side by side), and
"Continue from this model"."""
from __future__ import annotations

import json
import os

from PySide6.QtCore import QItemSelectionModel, Qt

from core.training.config import TrainConfig
from gui.panels.runs.runs_panel import RunsPanel
from tests.fakes import past_run
from tests.gui.qt_show import shown


def _select(panel, names):
    """Ctrl+click these runs: select each, keeping the others."""
    model = panel.tree.selectionModel()
    model.clearSelection()
    for i in range(panel.tree.topLevelItemCount()):
        item = panel.tree.topLevelItem(i)
        if os.path.basename(item.data(0, Qt.ItemDataRole.UserRole)) in names:
            index = panel.tree.indexFromItem(item)
            model.select(index, QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows)


def test_three_runs_selected_show_three_curves_and_the_settings_that_differ(qtbot, tmp_path):
    root = tmp_path / "runs"
    past_run(root, "20260101-100000-small_cnn", {"arch": "small_cnn", "lr": 0.001, "epochs": 3}, [0.5, 0.7, 0.8])
    past_run(root, "20260101-110000-small_cnn", {"arch": "small_cnn", "lr": 0.01, "epochs": 2}, [0.6, 0.65])
    past_run(root, "20260101-120000-resnet18", {"arch": "resnet18", "lr": 0.01, "epochs": 2}, [0.9, 0.95])
    panel = shown(qtbot, RunsPanel(str(root)))
    panel.refresh()
    _select(panel, {"20260101-100000-small_cnn", "20260101-110000-small_cnn", "20260101-120000-resnet18"})
    view = panel.compare_view
    assert panel.pages.currentWidget() is view and view.isVisible()
    assert view.plots.curve_count() == 3
    assert view.plots.acc_plot.legend.names() == ["20260101-120000-resnet18", "20260101-110000-small_cnn",
                                                  "20260101-100000-small_cnn"]
    assert len(view.plots.loss_plot.legend.names()) == 3
    colours = {acc.curve.opts["pen"].color().name() for acc, _loss in view.plots.series}
    assert len(colours) == 3                                      # one colour each
    assert view.table.columnCount() == 3
    assert {"Network", "Learning rate", "Epochs"} <= set(view.highlighted_rows())
    assert "Optimizer" not in view.highlighted_rows()
    labels = [view.table.verticalHeaderItem(r).text() for r in range(view.table.rowCount())]
    lr = labels.index("Learning rate")
    assert view.table.item(lr, 0).font().bold() and not view.table.item(labels.index("Optimizer"), 0).font().bold()
    view.only_differing.setChecked(True)
    assert view.table.isRowHidden(labels.index("Optimizer")) and not view.table.isRowHidden(lr)

    _select(panel, {"20260101-100000-small_cnn", "20260101-110000-small_cnn"})
    assert view.plots.curve_count() == 2 and view.table.columnCount() == 2
    panel.tree.setCurrentItem(panel.tree.selectedItems()[0], 0, QItemSelectionModel.SelectionFlag.NoUpdate)
    panel.refresh()                                               # the list read again: one run, its details
    assert panel.pages.currentIndex() == 0 and len(panel.selected_run_dirs()) == 1
    _select(panel, {"20260101-100000-small_cnn", "20260101-110000-small_cnn"})
    assert panel.pages.currentIndex() == 1
    _select(panel, {"20260101-100000-small_cnn"})
    assert panel.pages.currentIndex() == 0                        # one run: its details again


def test_continue_from_this_model_fills_the_train_tab_with_init_from(qtbot, tmp_path):
    root = tmp_path / "runs"
    folder = past_run(root, "20260101-100000-small_cnn", {"arch": "small_cnn", "lr": 0.002, "epochs": 3},
                      [0.5, 0.7, 0.8], best_model=True)
    quick = past_run(root, "20260101-090000-quick", {"recipe": "quick", "arch": "efficientnet_lite0"}, [0.9],
                     best_model=True)
    panel = shown(qtbot, RunsPanel(str(root)))
    panel.refresh()
    assert panel.select_run(folder, reload=True)
    assert panel.continue_button.isEnabled()
    with qtbot.waitSignal(panel.settings_requested) as got:
        panel.continue_button.click()
    config = got.args[0]
    assert isinstance(config, TrainConfig)
    assert config.init_from == os.path.join(folder, "best.pt") and config.lr == 0.002 and config.recipe == "custom"
    assert panel.select_run(quick, reload=True)
    with qtbot.waitSignal(panel.settings_requested) as got:
        panel.continue_button.click()
    assert got.args[0].recipe == "thorough" and got.args[0].init_from == os.path.join(quick, "best.pt")


def test_a_run_started_from_a_model_says_so_in_its_details(qtbot, tmp_path):
    root = tmp_path / "runs"
    folder = past_run(root, "20260101-100000-small_cnn", {"arch": "small_cnn", "init_from": "/runs/a/best.pt"},
                      [0.5], classes=("bird", "plane", "empty"))
    with open(os.path.join(folder, "run.json")) as f:
        run = json.load(f)
    run["init_from_message"] = "Started from the model /runs/a/best.pt: 8 weight tensors carried over"
    with open(os.path.join(folder, "run.json"), "w") as f:
        json.dump(run, f)
    panel = shown(qtbot, RunsPanel(str(root)))
    panel.refresh()
    assert panel.select_run(folder, reload=True)
    form = panel.settings_form
    rows = {form.itemAt(i, form.ItemRole.LabelRole).widget().text(): form.itemAt(i, form.ItemRole.FieldRole).widget().text()
            for i in range(form.rowCount())}
    assert rows["Started from"].startswith("Started from the model /runs/a/best.pt")
    assert not panel.continue_button.isEnabled()                  # no best.pt in this run
