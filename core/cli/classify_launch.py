"""`fledge classify --gpus N`: one folder's photos shared among N processes under torchrun.

The launcher starts `python -m torch.distributed.run --standalone --nproc-per-node N -m core.cli
<the same arguments>`; each process, seeing RANK and WORLD_SIZE (also under a torchrun started
by hand on several machines), joins the job, runs the model on its share of the photos
(core.photos.classify_shards) and hands its answers on. Rank 0 alone then finds the bursts,
prints, writes the CSV and sorts, journalled as in a one-process run, and writes its exit
status to a result file for the launcher.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
from collections.abc import Callable

from core.cli.distributed_launch import run_torchrun
from core.training.distributed import RESULT_FILE_ENV


def launch_classify(argv: list[str], nproc: int) -> int:
    """Run the job under torchrun; the exit status of a one-process `fledge classify`."""
    with tempfile.TemporaryDirectory(prefix="fledge-classify-") as tmp:
        env = dict(os.environ)
        env[RESULT_FILE_ENV] = os.path.join(tmp, "result.json")
        print(f"Classifying with {nproc} processes (torchrun).", file=sys.stderr, flush=True)
        stopped = []

        def on_signal(signum, proc):
            stopped.append(signum)
            proc.send_signal(signal.SIGTERM)            # torchrun ends every process

        rc = run_torchrun(argv, nproc, env, on_signal)
        try:
            with open(env[RESULT_FILE_ENV], encoding="utf-8") as f:
                code = int(json.load(f)["code"])
        except (OSError, ValueError, KeyError, TypeError):
            code = None
    if stopped:
        print("Stopped. Run the same command again to finish: photos already sorted stay sorted, and "
              "fledge undo DEST puts them back.", file=sys.stderr)
        return 130
    if code is None:
        print(f"fledge: the classifying processes ended without a result (torchrun exit status {rc}); "
              "the messages above say why.", file=sys.stderr)
        return 1
    return code


def run_classify_worker(args, work: Callable) -> int:
    """One rank: join the job, work(rank_info, spread) (rank 0's exit status), leave."""
    from core.photos.classify_shards import sharded, torch_all_gather
    from core.training import distributed

    info = distributed.setup(getattr(args, "device", None) or "auto")
    if not info.is_main:
        sys.stdout = open(os.devnull, "w", encoding="utf-8")     # rank 0 speaks for all
    try:
        code = work(info, sharded(info.rank, info.world_size, torch_all_gather))
    finally:
        distributed.teardown()
    path = os.environ.get(RESULT_FILE_ENV)
    if info.is_main and path:
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"code": code}, f)
        os.replace(tmp, path)
        return 0            # the launcher returns the code; torchrun must not call it a failure
    return code if info.is_main else 0
