"""`fledge classify --gpus N`: one folder's photos shared among N processes under torchrun.

launch_classify() starts the job through the one launcher (core.training.launcher) with the
command's options as JSON; each process (`python -m core.cli.classify_worker JOB.json`, or
`fledge classify` itself under a torchrun started by hand on several machines: classify_rank)
joins the job and runs the model on its share of the photos (core.photos.classify_shards).
Rank 0 alone then finds the bursts, prints, writes the CSV and sorts, journalled as in a
one-process run. What rank 0 prints reaches the terminal; what the other processes and torchrun
print goes to the job's log, which a failure names in its one line.
"""
from __future__ import annotations

import argparse
import os
import sys
import traceback

from core.cli.console import fail, problem_line, safe_console
from core.cli.photos import classify_share
from core.errors import FledgeError
from core.process_exit import leave
from core.photos.classify_shards import sharded, torch_all_gather
from core.training import distributed
from core.training.launcher import TorchrunJob
from core.training.worker import joined, read_job, speak_for_all, write_result

WORKER = "core.cli.classify_worker"


def launch_classify(args, model_path: str, folder: str, processes: int) -> int:
    """The job, to its end; the exit status of a one-process `fledge classify`. Ctrl+C ends it."""
    print(f"Classifying with {processes} processes (torchrun).", file=sys.stderr, flush=True)
    job = {"kind": "classify", "args": _plain(vars(args)), "model_path": model_path, "folder": folder}
    end = TorchrunJob(WORKER, job, processes, kind="classify", console=True, ctrl_c="end").run()
    said = end.result or {}
    if end.interrupted:
        print("Stopped. " + again(args), file=sys.stderr)
        return 130
    if "code" not in said:
        return fail(f"The classifying processes ended before they finished ({end.cause}). {again(args)} "
                    f"{end.report()}".rstrip())
    if said.get("message"):
        return fail(" ".join(s for s in (said["message"], end.report()) if s), int(said["code"]))
    return int(said["code"])


def again(args) -> str:
    """What to do after a job that ended early."""
    if not args.sort_into:
        return "Run the same command again to classify every photo."
    return (f"Run the same command again to finish: photos already sorted stay sorted, and fledge undo "
            f"{args.sort_into} puts them back.")


def _plain(options: dict) -> dict:
    """The command's options that JSON can carry (all but the parser's own function)."""
    return {k: v for k, v in options.items() if isinstance(v, (str, int, float, bool, list, type(None)))}


def classify_rank(args, model_path: str, folder: str, files: dict | None = None) -> int:
    """One process of the job: join it, classify its share (rank 0: and print, write and sort
    for all), leave. Rank 0's exit status (0 on the others)."""
    with joined(getattr(args, "device", None) or "auto") as info:
        speak_for_all(info, files)
        safe_console()          # rank 0's printing may go to the launcher's files: any name prints
        try:
            return classify_share(args, model_path, folder, info, sharded(info.rank, info.world_size,
                                                                          torch_all_gather))
        except Exception as exc:
            if not distributed.is_collective_failure(exc):
                raise
            if files:       # the details for the log
                traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.__stderr__)
            raise FledgeError(f"Another classifying process ended or stopped answering ({info.describe()} saw: "
                              f"{str(exc).splitlines()[0][:200]}). {again(args)}") from exc


def main(argv: list[str] | None = None) -> int:
    """A process of a supervised classify job. Rank 0 writes {"code", "message"} to the result
    file (message: a failure the launcher prints in one line). Exit status 1 only after an
    error nobody foresaw, whose traceback is then in the log."""
    job = read_job((sys.argv[1:] if argv is None else argv)[0])
    files = job["files"]
    status, code, message = 0, 1, ""
    try:
        code = classify_rank(argparse.Namespace(**job["args"]), job["model_path"], job["folder"], files)
    except Exception as exc:
        message = problem_line(exc)
        if message is None:
            traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.__stderr__)
            message = f"Classifying failed unexpectedly ({type(exc).__name__}: {exc})."
            status = 1
    if os.environ.get("RANK", "0") == "0":
        write_result(files, {"code": code, "message": message})
    return status


if __name__ == "__main__":
    leave(main())
