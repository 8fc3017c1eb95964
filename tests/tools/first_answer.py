"""How long `fledge predict MODEL PHOTO` takes to answer, as a person runs it:
`python -m tests.tools.first_answer MODEL PHOTO [PHOTO...] [--repeat 3] [--top 12]`.

Runs the real command in a fresh Python process each time and prints, per run, the seconds
until its first line of output (the answer) and until the process has ended, then the
packages one more run (under `python -X importtime`) spent its import time on, each with
the module that pulled it in. The figures depend on the machine and on what else runs on
it, so they are printed, never asserted; tests/core/cli/test_predict_imports.py checks what
is imported instead.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)")


@dataclass(frozen=True)
class Imported:
    """One module as `python -X importtime` reports it."""
    name: str
    depth: int              # 0: imported by the program itself
    self_s: float           # its own code
    cumulative_s: float     # with everything it imported first
    parent: str | None      # the module whose import pulled it in


def parse_importtime(stderr: str) -> list[Imported]:
    """Every module a run imported, in the order -X importtime printed them (each after what it
    imported itself); lines that are not its report are left out."""
    rows = [(len(m[3]) // 2, int(m[1]) / 1e6, int(m[2]) / 1e6, m[4])
            for m in map(_LINE.match, stderr.splitlines()) if m]
    out, waiting = [], []           # waiting: indices whose importer has not been printed yet
    for i, (depth, own, cum, name) in enumerate(rows):
        out.append([name, depth, own, cum, None])
        while waiting and rows[waiting[-1]][0] > depth:
            out[waiting.pop()][4] = name
        waiting.append(i)
    return [Imported(*row) for row in out]


def fledge_command(*args: str, importtime: bool = False) -> list[str]:
    """The `fledge` program as the installed script runs it, with this checkout's code."""
    return [sys.executable, *(["-X", "importtime"] if importtime else []), "-m", "gui.launcher", *args]


def fledge_env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT))


@dataclass(frozen=True)
class Timing:
    answer_s: float         # until the first line of output
    exit_s: float           # until the process had ended
    returncode: int
    first_line: str


def time_once(args: list[str]) -> Timing:
    start = time.perf_counter()
    proc = subprocess.Popen(fledge_command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=fledge_env(), cwd=ROOT)
    first = proc.stdout.readline()
    answered = time.perf_counter()
    proc.communicate()
    return Timing(answered - start, time.perf_counter() - start, proc.returncode, first.rstrip("\n"))


OWN = ("core", "gui")          # Fledge's packages: their own code is counted, not what they import


def heaviest_imports(modules: list[Imported]) -> list[tuple[float, str, str]]:
    """(seconds, package, who imported it) heaviest first: the cumulative time of a package's
    imports by each importer outside it (torch by Fledge's predictor, torch._dynamo by
    torchvision), "when it ran" for an import of the running code; for Fledge's own packages
    the time of their own modules' code."""
    totals: dict[tuple[str, str], float] = {}
    for m in modules:
        package = m.name.split(".")[0]
        if package in OWN:
            key, seconds = (package, "its own code"), m.self_s
        elif m.parent is not None and m.parent.split(".")[0] == package:
            continue                        # counted in the import of the package that holds it
        else:
            key, seconds = (package, f"by {m.parent}" if m.parent else "when it ran"), m.cumulative_s
        totals[key] = totals.get(key, 0.0) + seconds
    return sorted(((s, p, by) for (p, by), s in totals.items()), reverse=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.tools.first_answer", description=__doc__.splitlines()[0])
    p.add_argument("model", help="a model file (.pt), run folder or export folder")
    p.add_argument("photos", nargs="+", metavar="PHOTO")
    p.add_argument("--repeat", type=int, default=3, help="timed runs (default 3); the minimum is the figure")
    p.add_argument("--top", type=int, default=12, help="packages to list by import time (default 12)")
    args = p.parse_args(argv)
    command = ["predict", args.model, *args.photos]

    runs = [time_once(command) for _ in range(max(1, args.repeat))]
    if any(r.returncode for r in runs):
        print(f"fledge {' '.join(command)} failed (exit status {runs[0].returncode}).", file=sys.stderr)
        return 1
    print(f"answer: {runs[0].first_line}")
    for label, values in (("first answer", [r.answer_s for r in runs]), ("process ended", [r.exit_s for r in runs])):
        print(f"{label:14s} min {min(values):.2f} s  median {statistics.median(values):.2f} s  "
              f"({', '.join(f'{v:.2f}' for v in values)})")

    proc = subprocess.run(fledge_command(*command, importtime=True), capture_output=True, text=True,
                          env=fledge_env(), cwd=ROOT)
    modules = parse_importtime(proc.stderr)
    total = sum(m.cumulative_s for m in modules if m.depth == 0)
    print(f"imports (one more run, under -X importtime): {total:.2f} s in {len(modules)} modules")
    for seconds, package, by in heaviest_imports(modules)[:args.top]:
        print(f"  {seconds:6.3f} s  {package:20s} {by}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
