"""The torchrun launcher's plain words: why the processes ended, how a run ended as rank 0 said
and as torchrun saw it, and the logs it keeps (core.training.launcher, distributed_fit).
The jobs themselves are started in test_distributed.py and tests/core/cli/test_classify_gpus.py."""
from __future__ import annotations

import os

from core.training import launcher
from core.training.distributed_fit import outcome
from core.training.events import FitEnded, to_json
from core.training.launcher import JobEnd, describe_exit

# The end of torchrun's report when a process was killed (torch 2.x).
REPORT = """torch.distributed.elastic.multiprocessing.errors.ChildFailedError:
=====================================================
core.training.worker FAILED
-----------------------------------------------------
Failures:
[1]:
  rank      : 0 (local_rank: 0)
  exitcode  : -15 (pid: 30270)  (SIGTERM)
-----------------------------------------------------
Root Cause (first observed failure):
[0]:
  rank      : 1 (local_rank: 1)
  exitcode  : -9 (pid: 30271)  (SIGKILL)
  traceback : Signal 9 (SIGKILL) received by PID 30271
====================================================="""


def test_why_the_processes_ended_comes_from_the_root_cause_of_torchruns_report():
    assert describe_exit(1, REPORT) == ("one of the processes was killed with SIGKILL, from outside or because the "
                                        "computer ran out of memory")
    assert describe_exit(1, REPORT.replace("-9 (pid", "-11 (pid")) == "one of the processes was ended by SIGSEGV"
    assert describe_exit(1, REPORT.replace("-9 (pid", "2 (pid")) == "one of the processes stopped with exit status 2"
    assert describe_exit(-9, "") == "torchrun was ended by SIGKILL"
    assert describe_exit(1, "no report") == "torchrun ended with exit status 1"


def test_a_run_ends_as_rank_0_said_with_what_else_happened_to_the_processes():
    said = FitEnded("failed", "Another training process ended.", run_dir="/r", best_val_acc=0.5)
    killed = dict(returncode=1, log="/logs/train.log", cause="one of the processes was killed (SIGKILL)")
    assert outcome(JobEnd(0, to_json(said))) == said
    assert outcome(JobEnd(result=to_json(said), **killed)).message == (
        "Another training process ended. One of the processes was killed (SIGKILL). "
        "The processes' own report is in /logs/train.log.")
    done = FitEnded("completed", "Training finished.")
    assert outcome(JobEnd(result=to_json(done), **killed)).message == (
        "Training finished. Then one of the processes was killed (SIGKILL). "
        "The processes' own report is in /logs/train.log.")
    nothing = outcome(JobEnd(result=None, **killed), run_dir="/r")
    assert (nothing.reason, nothing.run_dir) == ("failed", "/r")
    assert nothing.message == ("The training processes ended without finishing the run (one of the processes was "
                               "killed (SIGKILL)). Continue it with fledge train --resume /r. The processes' own "
                               "report is in /logs/train.log.")
    # Ended on request (Ctrl+C twice): as rank 0 said, without the log.
    assert outcome(JobEnd(1, to_json(said), "/logs/x.log", interrupted=True, cause="x")) == said


def test_only_the_newest_logs_are_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    paths = [launcher._new_log("train") for _ in range(5)]
    for age, path in enumerate(reversed(paths)):
        os.utime(path, (1000 - age, 1000 - age))
    launcher._prune_logs(launcher.logs_dir(), keep=3)
    assert sorted(launcher.logs_dir().glob("*.log")) == sorted(map(launcher.Path, paths[-3:]))


def test_a_log_goes_to_the_temporary_folder_when_the_logs_folder_cannot_be_made(tmp_path, monkeypatch):
    (tmp_path / "fledge").write_text("a file where the folder should be")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(launcher.tempfile, "tempdir", None)
    path = launcher._new_log("classify")
    assert os.path.dirname(path) == str(tmp_path / "tmp") and os.path.isfile(path)
