"""gui.model_store: each model file is read once and the same Predictor is handed to every tab."""
from __future__ import annotations

import os

import pytest

from gui.background import TaskPool
from gui.model_store import ModelStore
from gui.settings import Settings
from tests.fakes import FakePredictor


@pytest.fixture
def reads(monkeypatch):
    """Predictor.from_checkpoint replaced by a fake that records each file it reads."""
    from core.model.predictor import Predictor

    read: list[str] = []

    def fake_load(cls, path, device="auto", photos=None):
        read.append(str(path))
        if open(path, "rb").read() == b"broken":
            raise ValueError("unpickling failed")
        return FakePredictor(["cat", "dog"])
    monkeypatch.setattr(Predictor, "from_checkpoint", classmethod(fake_load))
    return read


def model_file(tmp_path, name: str, content: bytes = b"model") -> str:
    path = tmp_path / name
    path.write_bytes(content)
    return str(path)


def load(qtbot, store: ModelStore, path: str):
    with qtbot.waitSignal(store.changed, timeout=10000) as blocker:
        store.load(path)
    assert blocker.args == [path]
    return store.predictor()


def test_one_file_one_predictor_on_any_thread(qtbot, tmp_path, reads):
    store = ModelStore()
    path = model_file(tmp_path, "a.pt")
    current = load(qtbot, store, path)
    assert store.path() == path and not store.is_loading()
    assert store.predictor_for(path) is current
    pool = TaskPool()             # a tab's job asks from its worker thread
    with qtbot.waitSignal(pool.finished, timeout=10000) as blocker:
        pool.submit(lambda report, control: store.predictor_for(path))
    assert blocker.args[1] is current
    assert reads == [path]


def test_a_rewritten_file_is_read_again(qtbot, tmp_path, reads):
    store = ModelStore()
    path = model_file(tmp_path, "best.pt")
    first = load(qtbot, store, path)
    model_file(tmp_path, "best.pt", b"a retrained model")     # the same name, new contents
    again = store.predictor_for(path)
    assert again is not first and reads == [path, path]
    assert store.predictor_for(path) is again


def test_other_files_stay_at_hand_and_the_current_model_stays(qtbot, tmp_path, reads):
    store = ModelStore()
    a, b, c = (model_file(tmp_path, f"{n}.pt") for n in "abc")
    current = load(qtbot, store, a)
    pb, pc = store.predictor_for(b), store.predictor_for(c)
    assert store.predictor() is current                       # a tab's model does not replace it
    assert store.predictor_for(b) is pb and store.predictor_for(c) is pc
    assert load(qtbot, store, b) is pb                         # opened in Predict: read no more
    assert store.predictor_for(a) is current                   # the old current is kept at hand
    assert reads == [a, b, c]


def test_a_failed_load_names_the_file_and_keeps_the_current_model(qtbot, tmp_path, reads):
    store = ModelStore()
    good, bad = model_file(tmp_path, "good.pt"), model_file(tmp_path, "holiday.pt", b"broken")
    current = load(qtbot, store, good)
    with qtbot.assertNotEmitted(store.changed):
        with qtbot.waitSignal(store.failed, timeout=10000) as blocker:
            store.load(bad)
    path, message = blocker.args
    assert path == bad
    assert "holiday.pt could not be loaded" in message and "unpickling failed" in message
    assert store.predictor() is current and store.path() == good


def test_the_last_load_asked_for_wins(qtbot, tmp_path, reads):
    store = ModelStore()
    a, b = model_file(tmp_path, "a.pt"), model_file(tmp_path, "b.pt")
    changed = []
    store.changed.connect(changed.append)
    store.load(a)
    with qtbot.waitSignal(store.changed, timeout=10000):
        store.load(b)
    qtbot.waitUntil(lambda: not store.is_loading(), timeout=10000)
    assert changed == [b] and store.path() == b
    assert store.shutdown(10000)


def test_a_finished_run_and_a_tabs_choice_become_the_current_model(qtbot, tmp_path, reads):
    from core.training.events import FitEnded

    store = ModelStore()
    best, last = model_file(tmp_path, "best.pt"), model_file(tmp_path, "last.pt")
    with qtbot.waitSignal(store.changed, timeout=10000) as blocker:
        assert store.use_finished_run(FitEnded("completed", "", best_model=best, last_model=last))
    assert blocker.args == [best]
    assert not store.use_finished_run(FitEnded("failed", "no model saved"))
    with qtbot.waitSignal(store.changed, timeout=10000) as blocker:     # stopped before a best one
        assert store.use_finished_run(FitEnded("stopped", "", last_model=last))
    assert blocker.args == [last]
    with qtbot.assertNotEmitted(store.loading):
        assert not store.offer(last)                 # already the current model: nothing to do
    with qtbot.waitSignal(store.changed, timeout=10000):
        assert store.offer(best)
    assert reads == [best, last]                     # best.pt was still at hand


def test_the_last_model_is_remembered_for_the_next_start(qtbot, tmp_path, reads):
    settings = Settings.in_file(tmp_path / "fledge.ini")
    path = model_file(tmp_path, "pets.pt")
    assert not ModelStore(settings=settings).load_last()         # nothing yet
    load(qtbot, ModelStore(settings=settings), path)
    again = ModelStore(settings=settings)
    with qtbot.waitSignal(again.changed, timeout=10000):
        assert again.load_last()
    assert again.path() == path
    os.remove(path)
    assert not ModelStore(settings=settings).load_last() and ModelStore(settings=settings).last_path() == ""
    assert not ModelStore().load_last()                          # without settings: no memory
