"""`fledge evaluate`, `fledge classify` and `fledge undo`: the use-the-model half of the CLI.

register(subparsers) adds the three commands; torch is imported only when a command
runs (through core.model.predictor), so building the parser stays quick.
"""
from __future__ import annotations

import json
import os
import sys

from core.cli.console import StageProgress, command, ctrl_c_stops, fail
from core.cli.options import output_file
from core.errors import UsageError
from core.progress import Throttled
from core.wording import plural


def _model_path(path: str, exports: bool = True) -> str:
    """The model path names: a .pt file, a run folder's best.pt or (exports) an ONNX export."""
    from core.model.export.loading import resolve_model_path

    return resolve_model_path(path, exports=exports)


def _load_predictor(path: str, device: str):
    """Fledge's Predictor for a .pt file, or one that runs an ONNX export (imports torch)."""
    from core.model.export.loading import load_predictor

    return load_predictor(path, device=device)


# -- evaluate -----------------------------------------------------------------------------

def evaluate_model(args, model_path: str, predictor=None):
    """The model file (loaded here unless its predictor is given) on args.data's args.split (the
    split recorded in the .pt), with progress on the terminal and Ctrl+C stopping it:
    core.photos.evaluation's EvaluationResult."""
    from core.photos.evaluation import evaluate_folder

    if predictor is None:
        predictor = _load_predictor(model_path, args.device)
    progress = StageProgress({"evaluating": "Evaluating"})
    with ctrl_c_stops() as should_stop:
        try:
            return evaluate_folder(predictor, args.data, args.split, model_path=model_path,
                                   batch_size=args.batch_size, report=progress, should_stop=should_stop)
        finally:
            progress.close()


@command
def cmd_evaluate(args) -> int:
    result = evaluate_model(args, _model_path(args.model, exports=False))   # the split is in the .pt only
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(result.format_text())
    return 130 if result.stopped else 0


# -- classify -----------------------------------------------------------------------------

@command
def cmd_classify(args) -> int:
    if problem := _classify_usage_problem(args):
        raise UsageError(problem)
    if args.from_csv:
        return _from_csv(args)
    model_path = _model_path(args.model)
    folder = os.path.abspath(os.path.expanduser(args.folder))
    if not os.path.isdir(folder):
        what = "is a file, not a folder" if os.path.exists(folder) else "does not exist"
        return fail(f"The folder {folder} {what}. Give the folder that holds the photos to classify.")
    if (code := _several_processes(args, model_path, folder)) is not None:
        return code
    predictor = _load_predictor(model_path, args.device)
    if args.sort_into:
        return _classify_and_sort(args, predictor, folder)
    return _classify(args, predictor, folder)


def _several_processes(args, model_path: str, folder: str) -> int | None:
    """--gpus N>1: a torchrun job of N processes; under a torchrun started by hand: this
    process's part of the job (core.cli.classify_worker). None: classify in this process."""
    from core.cli import classify_worker    # late: it imports this module (classify_share)
    from core.training import distributed

    if distributed.launched_by_torchrun():
        return classify_worker.classify_rank(args, model_path, folder)
    n = distributed.process_count(args.gpus)
    if n <= 1:
        return None
    return classify_worker.launch_classify(args, model_path, folder, n)


def classify_share(args, model_path: str, folder: str, info, spread) -> int:
    """One process's part of classify --gpus: rank 0 classifies (and sorts) with every process's
    answers, spread over them; the others run the model on their share. Rank 0's exit status."""
    predictor = _load_predictor(model_path, str(info.device))
    if info.is_main:
        run = _classify_and_sort if args.sort_into else _classify
        return run(args, predictor, folder, spread=spread)
    _share_only(args, predictor, folder, spread)
    return 0


def _share_only(args, predictor, folder: str, spread) -> None:
    """A rank other than 0: its share of the photos, handed on; rank 0 sorts."""
    from core.photos.classify import classify_folder
    from core.photos.sorting import sorted_already

    exclude = sorted_already(predictor, args.sort_into) if args.sort_into else ()
    with ctrl_c_stops() as should_stop:
        classify_folder(predictor, folder, recursive=args.recursive, batch_size=args.batch_size, top_k=args.top_k,
                        exclude=exclude, should_stop=should_stop, bursts=False, spread=spread)


def _from_csv(args) -> int:
    """classify --from-csv: the answers of an earlier run, sorted with new settings."""
    from core.photos.answers_csv import read_answers

    answers = read_answers(args.from_csv)
    for path, why in answers.refused[:5]:
        print(f"Left out {path}: {why}.", file=sys.stderr)
    if len(answers.refused) > 5:
        print(f"Left out {len(answers.refused) - 5} more rows for the same reason.", file=sys.stderr)
    if not answers.results:
        return fail(f"{args.from_csv} lists no photos" + (" inside the folder it was written for."
                                                          if answers.refused else "."))
    results = answers.results
    if args.by_burst and not any(r.burst for r in results):
        from core.photos.bursts import with_bursts

        results = with_bursts(results)        # a CSV from before bursts: find them now
    _print_answers(args, results, stopped=False, folder=answers.folder)
    return _sort_answers(args, results, answers.folder) if args.sort_into else 0


def _classify_usage_problem(args) -> str:
    """What is wrong with the options given to classify ('' when nothing)."""
    if not args.sort_into and (args.move or args.keep_structure):
        return "--move and --keep-structure need --sort-into DEST."
    if args.by_burst and not args.sort_into:
        return "--by-burst needs --sort-into DEST."
    if args.from_csv and args.folder:
        return "give either MODEL FOLDER or --from-csv FILE, not both."
    if args.from_csv and args.model:
        return "with --from-csv, give no MODEL (the CSV already holds the answers)."
    if not args.from_csv and not (args.model and args.folder):
        return "classify needs MODEL and FOLDER (or --from-csv FILE with --sort-into DEST)."
    return ""


def _no_pictures(folder: str, recursive: bool) -> str:
    return f"No pictures found in {folder}{'' if recursive else ' (add --recursive to include subfolders)'}."


def _classify(args, predictor, folder: str, spread=None) -> int:
    from core.photos.classify import classify_folder

    progress = StageProgress({"classifying": "Classifying"})
    with ctrl_c_stops() as should_stop:
        try:
            results = classify_folder(predictor, folder, recursive=args.recursive, batch_size=args.batch_size,
                                      top_k=args.top_k, progress=Throttled(progress, "classifying"),
                                      should_stop=should_stop, spread=spread)
        finally:
            progress.close()
        stopped = should_stop()
    if not results:
        return fail(_no_pictures(folder, args.recursive))
    _print_answers(args, results, stopped, folder=folder)
    return 130 if stopped else 0


def _classify_and_sort(args, predictor, folder: str, spread=None) -> int:
    from core.photos.sorting import sort_folder

    threshold = _review_threshold(args, predictor)
    progress = StageProgress({"classifying": "Classifying", "sorting": "Moving" if args.move else "Copying"})
    with ctrl_c_stops() as should_stop:
        try:
            out = sort_folder(predictor, folder, args.sort_into, threshold=threshold, move=args.move,
                              keep_structure=args.keep_structure, recursive=args.recursive,
                              batch_size=args.batch_size, top_k=args.top_k, csv_path=args.csv,
                              report=progress, should_stop=should_stop, by_burst=args.by_burst, spread=spread)
        finally:
            progress.close()
    if out.stopped_while == "classifying":
        _print_answers(args, out.results, stopped=True, folder=folder)
        print("Stopped before sorting: no photo was copied or moved. Run the same command again to sort them.")
        return 130
    if not out.results:
        return fail(_no_pictures(folder, args.recursive))
    _print_answers(args, out.results, stopped=False, csv_path=out.csv_path)
    print(_sort_report_text(out.report))
    return _sort_exit_code(out.report)


def _sort_answers(args, results, folder: str) -> int:
    from core.photos.sorting import sort_classified

    threshold = 0.0 if args.threshold is None else args.threshold    # no model: no saved thresholds
    progress = StageProgress({"sorting": "Moving" if args.move else "Copying"})
    with ctrl_c_stops() as should_stop:
        try:
            report = sort_classified(results, folder, args.sort_into, threshold=threshold, move=args.move,
                                     keep_structure=args.keep_structure, report=progress,
                                     should_stop=should_stop, by_burst=args.by_burst)
        finally:
            progress.close()
    print(_sort_report_text(report))
    return _sort_exit_code(report)


def _review_threshold(args, predictor):
    """--threshold when given, else the per-class thresholds saved in the model (said on stderr)."""
    from core.photos.thresholds import ReviewThresholds, review_thresholds

    threshold = review_thresholds(args.threshold, predictor)
    if isinstance(threshold, ReviewThresholds):
        print(f"Using the review thresholds saved in the model ({threshold.describe()}); --threshold T "
              "uses one for every class instead.", file=sys.stderr)
    return threshold


def _sort_exit_code(report) -> int:
    if report.stopped:
        return 130
    return 1 if report.failed or report.disk_full else 0


def _print_answers(args, results, stopped: bool, csv_path: str = "", folder=None) -> None:
    """The CSV (written here unless csv_path says where it already is) or, with neither --csv
    nor --sort-into, one line per photo; then a summary on stderr."""
    from core.photos.answers_csv import write_csv
    from core.photos.bursts import burst_sizes

    if args.csv:
        print(f"Wrote {csv_path or write_csv(results, args.csv, folder=folder)} ({len(results)} photos).")
    elif not args.sort_into:
        for r in results:
            if r.error:
                print(f"{r.path}\terror\t{r.error}")
            else:
                extra = "".join(f"\t{c}\t{p:.4f}" for c, p in r.top[1:])
                print(f"{r.path}\t{r.label}\t{r.probability:.4f}{extra}")
    unreadable = sum(1 for r in results if r.error)
    summary = f"Classified {plural(len(results), 'photo')}"
    sizes = [n for n in burst_sizes(results) if n > 1] if getattr(args, "by_burst", False) else []
    if sizes:
        summary += f"; {sum(sizes)} of them in {plural(len(sizes), 'burst')}, each sorted as one"
    if unreadable:
        summary += f"; {unreadable} could not be read"
    print(summary + "." + (" Stopped early: the rest were not classified." if stopped else ""), file=sys.stderr)


def _phrases(dest):
    """How the command line names the follow-up actions of a sort into dest."""
    from core.photos.sort_wording import Phrases

    return Phrases(again="run the same command again", undo_again="run undo again",
                   undo_first=f"To sort them again with new settings, run 'fledge undo {dest}' first.",
                   put_back=f"To put everything back: fledge undo {dest}")


def _sort_report_text(report) -> str:
    from core.photos.sort_wording import sort_lines

    return "\n".join(sort_lines(report, _phrases(report.dest)))


# -- undo ---------------------------------------------------------------------------------

@command
def cmd_undo(args) -> int:
    from core.photos.label_session import LabelSession

    progress = StageProgress({"undoing": "Undoing"})
    with ctrl_c_stops() as should_stop:
        try:
            # As the Sort tab's Undo: photos labelled into a dataset since are found there.
            report = LabelSession().undo_sort(args.dest, progress=Throttled(progress, "undoing"),
                                              should_stop=should_stop)
        finally:
            progress.close()
    print(_undo_report_text(report))
    if report.stopped:
        return 130
    return 1 if report.failed else 0


def _undo_report_text(report) -> str:
    from core.photos.sort_wording import undo_lines

    return "\n".join(undo_lines(report, _phrases(report.dest)))


# -- parsers ------------------------------------------------------------------------------

def register(subparsers) -> None:
    """Add the evaluate, classify and undo commands to an argparse subparsers object."""
    e = subparsers.add_parser(
        "evaluate", help="accuracy, per-class figures and confusion matrix of a model on a dataset",
        description="Measure a trained model on a dataset split: accuracy, precision, recall and F1 "
                    "per class, and the confusion matrix.")
    e.add_argument("model", help="a model file (.pt) saved by fledge train, or a run folder")
    e.add_argument("data", help="the dataset folder (DATA/<class>/ or DATA/train|val|test/<class>/)")
    e.add_argument("--split", default="val", choices=["val", "test", "train"],
                   help="which part of the dataset to evaluate on (default val)")
    e.add_argument("--json", action="store_true", help="print the figures as JSON")
    e.add_argument("--batch-size", type=int, default=64)
    e.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default auto)")
    e.set_defaults(func=cmd_evaluate)

    c = subparsers.add_parser(
        "classify", help="classify a folder of photos; write a CSV and/or sort them into class folders",
        description="Run a trained model on every photo in FOLDER. --csv writes one row per photo "
                    "(class, probability, the next best classes, capture time, error). --sort-into DEST "
                    "copies (or with --move moves) each photo into DEST/<class>/; photos below "
                    "--threshold go to DEST/_review/ and unreadable files to DEST/_unreadable/. "
                    "Names are never overwritten. Running the same command again continues an "
                    "interrupted sort; 'fledge undo DEST' puts everything back.")
    c.add_argument("model", nargs="?", help="a model file (.pt) saved by fledge train, a run folder, or an "
                                            "ONNX export folder made by fledge export (run on the CPU)")
    c.add_argument("folder", nargs="?", help="the folder of photos to classify")
    c.add_argument("--csv", metavar="OUT.csv", type=output_file, help="write the results to this CSV file")
    c.add_argument("--sort-into", metavar="DEST", help="copy the photos into DEST/<class>/ folders")
    c.add_argument("--move", action="store_true", help="move the photos instead of copying them")
    c.add_argument("--threshold", type=float, default=None, metavar="T",
                   help="photos whose top probability is below T go to DEST/_review/ (default: the per-class "
                        "thresholds saved in the model by 'fledge thresholds --save', else 0: none)")
    c.add_argument("--by-burst", action="store_true",
                   help="sort each burst (photos one camera took seconds apart that look alike) as one: "
                        "its photos' mean answer decides, so a burst is never split across folders")
    c.add_argument("--recursive", "-r", action="store_true", help="include photos in subfolders")
    c.add_argument("--keep-structure", action="store_true",
                   help="keep FOLDER's subfolders inside each class folder")
    c.add_argument("--top-k", type=int, default=3, metavar="K", help="classes per photo in the CSV (default 3)")
    c.add_argument("--from-csv", metavar="FILE",
                   help="sort using the answers in a CSV written earlier, without the model "
                        "(e.g. with a new --threshold)")
    c.add_argument("--batch-size", type=int, default=64)
    c.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default auto)")
    c.add_argument("--gpus", default=None, metavar="all|N",
                   help="share the photos among N processes (torchrun), one per GPU; the answers come "
                        "together in one CSV and one sort, as with one process")
    c.set_defaults(func=cmd_classify)

    u = subparsers.add_parser(
        "undo", help="put back every photo that fledge classify sorted into DEST",
        description="Undo every sort into DEST: moved photos go back where they were, copies are "
                    "removed when the original is still there. Nothing is overwritten.")
    u.add_argument("dest", help="the folder given to --sort-into")
    u.set_defaults(func=cmd_undo)
