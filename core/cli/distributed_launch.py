"""`fledge train --gpus N`: start torchrun with N processes, and be one of them.

The launcher runs `python -m torch.distributed.run --standalone --nproc-per-node N -m core.cli
<the same arguments>` in a session of its own, so Ctrl+C reaches only the launcher: it then
asks rank 0 to stop through a stop file (rank 0 passes it on to every rank at the next batch),
and a second Ctrl+C ends the job. Each process, seeing RANK, WORLD_SIZE and LOCAL_RANK, joins
the job (run_worker), which is also what happens under a torchrun started by hand on several
machines. Rank 0 prints the progress and writes the outcome to a result file for the launcher.
"""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from core.errors import FledgeError

from core.training.distributed import (EVENTS_FILE_ENV, PAUSE_FILE_ENV, RESULT_FILE_ENV, STOP_FILE_ENV,
                                       process_count)

EXIT_CODES = {"completed": 0, "stopped": 3, "failed": 1}


def processes_for(args) -> int:
    """How many processes `fledge train` should start: --gpus, else what a resumed run used."""
    from core.training import runs

    gpus = args.gpus
    if gpus is None and args.resume:
        gpus = runs.read_json(Path(args.resume) / runs.CONFIG_FILE).get("gpus")
    n = process_count(gpus)
    import torch

    if n > 1 and torch.cuda.is_available() and n > torch.cuda.device_count():
        raise FledgeError(f"--gpus {n}: this computer has {torch.cuda.device_count()} GPUs. Choose at most that many.")
    return n


def run_torchrun(argv: list[str], nproc: int, env: dict, on_signal) -> int:
    """`python -m torch.distributed.run --standalone --nproc-per-node N -m core.cli ARGV` in a
    session of its own (so Ctrl+C reaches only this process), to its end; on_signal(signum,
    process) answers Ctrl+C and SIGTERM meanwhile. torchrun's exit status."""
    env = dict(env)
    # torchrun would give each process one thread; on a CPU they share the cores instead.
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc),
           "-m", "core.cli", *argv]
    proc = subprocess.Popen(cmd, env=env, start_new_session=True)
    previous = {s: signal.signal(s, lambda signum, frame: on_signal(signum, proc))
                for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        return proc.wait()
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def launch_train(argv: list[str], nproc: int) -> int:
    """Run the job under torchrun; the exit status of a single-process `fledge train`."""
    with tempfile.TemporaryDirectory(prefix="fledge-launch-") as tmp:
        env = dict(os.environ)
        env.setdefault(STOP_FILE_ENV, os.path.join(tmp, "stop"))
        env[RESULT_FILE_ENV] = os.path.join(tmp, "result.json")
        print(f"Starting {nproc} training processes with torchrun.", flush=True)
        presses = []

        def on_signal(signum, proc):
            presses.append(signum)
            if signum == signal.SIGINT and len(presses) == 1:
                print("\nStopping after this batch (press Ctrl+C again to quit at once)...", file=sys.stderr)
                Path(env[STOP_FILE_ENV]).touch()
            else:
                proc.send_signal(signal.SIGTERM)        # torchrun ends every process

        rc = run_torchrun(argv, nproc, env, on_signal)
        try:
            with open(env[RESULT_FILE_ENV], encoding="utf-8") as f:
                reason = json.load(f).get("reason")
        except (OSError, ValueError):
            reason = None
    if reason is None:
        print(f"fledge: the training processes ended without a result (torchrun exit status {rc}); "
              "the messages above say why.", file=sys.stderr)
        return 1
    if rc != 0 and reason != "failed":
        print(f"fledge: one of the training processes failed (torchrun exit status {rc}).", file=sys.stderr)
        return 1
    return EXIT_CODES.get(reason, 1)


# -- inside one of the processes -----------------------------------------------------------------
def _watch_files(control, stop_event: threading.Event) -> None:
    """Rank 0: the launcher's (or the app's) stop and pause files steer the run."""
    stop_file, pause_file = os.environ.get(STOP_FILE_ENV), os.environ.get(PAUSE_FILE_ENV)
    while not stop_event.wait(0.2):
        if stop_file and os.path.exists(stop_file):
            control.stop()
            return
        if pause_file:
            control.pause() if os.path.exists(pause_file) else control.resume()


def _write_result(ended) -> None:
    path = os.environ.get(RESULT_FILE_ENV)
    if not path:
        return
    data = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in vars(ended).items()}
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f)
    os.replace(tmp, path)


class _EndedFromOutside(FledgeError):
    pass


def run_worker(args, make_trainer, report_end) -> int:
    """One rank: join the process group, train, leave. make_trainer(progress, control) builds
    the trainer (or returns an exit status); report_end(ended) prints the outcome."""
    from core.training import distributed
    from core.training.events import TrainControl

    info = distributed.setup(getattr(args, "device", None) or "auto")
    if not info.is_main:
        sys.stdout = open(os.devnull, "w", encoding="utf-8")    # rank 0 speaks for all
    control = TrainControl()

    def on_sigint(signum, frame):           # torchrun passes Ctrl+C on to every process: stop once
        control.stop()

    def on_sigterm(signum, frame):
        raise _EndedFromOutside("The training processes were told to end (another one failed, or the run was "
                                "cancelled). Continue it with fledge train --resume RUN_DIR.")

    signal.signal(signal.SIGINT, on_sigint)
    signal.signal(signal.SIGTERM, on_sigterm)
    done = threading.Event()
    if info.is_main:
        threading.Thread(target=_watch_files, args=(control, done), daemon=True, name="fledge-stop-file").start()
    try:
        trainer = make_trainer(control)
        if isinstance(trainer, int):
            return trainer
        if info.is_main and os.environ.get(EVENTS_FILE_ENV):     # a supervising program reads them
            from core.training.distributed_run import EventWriter

            trainer.callbacks.append(EventWriter(os.environ[EVENTS_FILE_ENV]))
        ended = trainer.fit()
    finally:
        done.set()
        distributed.teardown()
    if not info.is_main:
        if ended.reason == "failed":
            print(f"fledge ({info.describe()}): {ended.message}", file=sys.stderr)
        return 0 if os.environ.get(RESULT_FILE_ENV) or ended.reason != "failed" else 1
    _write_result(ended)
    code = report_end(ended)
    return 0 if os.environ.get(RESULT_FILE_ENV) or ended.reason != "failed" else code
