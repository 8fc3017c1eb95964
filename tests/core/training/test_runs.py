"""core.training.runs read without torch: a run's classes and whether it can be resumed."""
from __future__ import annotations

import json

from core.training.runs import can_resume, list_runs, model_classes, run_info


def make_run(root, name="20250101-120000-small_cnn", *, classes=("ants", "bees"), status="stopped",
             epochs=5, done=2, resume=True):
    run = root / name
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"arch": "small_cnn", "epochs": epochs}))
    (run / "run.json").write_text(json.dumps({"started": "2025-01-01T12:00:00", "classes": list(classes)}))
    (run / "status.json").write_text(json.dumps({"status": status, "epochs_done": done}))
    (run / "best.pt").write_bytes(b"not opened by anything here")
    if resume:
        (run / "resume.pt").write_bytes(b"a checkpoint")
    return run


def test_a_runs_classes_come_from_run_json_not_the_model_file(tmp_path):
    run = make_run(tmp_path)
    assert run_info(run).classes == ("ants", "bees")
    assert list_runs(str(tmp_path))[0].classes == ("ants", "bees")
    assert model_classes(run / "best.pt") == ("ants", "bees")
    loose = tmp_path / "loose.pt"
    loose.write_bytes(b"x")
    assert model_classes(loose) == ()                 # not in a run folder: unknown, not guessed
    (run / "run.json").write_text("{broken")
    assert model_classes(run / "best.pt") == ()


def test_only_a_run_that_ended_early_with_its_checkpoint_can_be_resumed(tmp_path):
    assert can_resume(run_info(make_run(tmp_path, "a")))
    assert not can_resume(run_info(make_run(tmp_path, "b", resume=False)))
    assert not can_resume(run_info(make_run(tmp_path, "c", status="completed", done=5)))
    assert not can_resume(run_info(make_run(tmp_path, "d", done=5)))


def test_a_run_json_nested_absurdly_deep_reads_as_empty_instead_of_crashing_the_list(tmp_path):
    run = make_run(tmp_path)
    (run / "run.json").write_text("[" * 100_000 + "]" * 100_000)
    (run / "status.json").write_text('{"a":' * 100_000 + "1" + "}" * 100_000)
    listed = list_runs(str(tmp_path))
    assert [r.run_dir for r in listed] == [str(run)] and listed[0].classes == ()
    assert model_classes(run / "best.pt") == ()
