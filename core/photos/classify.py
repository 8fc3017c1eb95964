"""Running a model on every photo of a folder.

    results = classify_folder(predictor, "~/birdcam", recursive=True)
    results[0].label, results[0].probability, results[0].captured

Nothing here imports torch: the predictor is any object with `classes` and
predict_many(paths, batch_size=, top_k=, progress=, should_stop=).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from core.data.imageio import exif_datetime, iter_image_files
from core.errors import FledgeError
from core.files.file_transfer import is_inside, is_really_inside

Progress = Callable[[int, int], None] | None
ShouldStop = Callable[[], bool] | None


@dataclass(frozen=True)
class ClassifiedImage:
    """One photo's result: its top classes with probabilities, or why it could not be read."""
    path: str
    top: tuple[tuple[str, float], ...] = ()
    error: str | None = None
    captured: str | None = None      # EXIF capture time, ISO "YYYY-MM-DDTHH:MM:SS"
    burst: str | None = None         # the burst it belongs to (core.photos.bursts), when known

    @property
    def label(self) -> str | None:
        return self.top[0][0] if self.top and not self.error else None

    @property
    def probability(self) -> float:
        return float(self.top[0][1]) if self.top and not self.error else 0.0

    @property
    def margin(self) -> float:
        """Top-1 minus top-2 probability (how clearly the model chose)."""
        if not self.top or self.error:
            return 0.0
        second = float(self.top[1][1]) if len(self.top) > 1 else 0.0
        return float(self.top[0][1]) - second


def _check_folder(folder, what: str = "folder") -> str:
    """The absolute path of an existing folder, or FledgeError saying what is wrong."""
    if folder is None or os.fspath(folder) == "":
        raise FledgeError(f"No {what} was given. Choose the folder of photos to classify.")
    folder = os.path.abspath(os.path.expanduser(os.fspath(folder)))
    if not os.path.exists(folder):
        raise FledgeError(f"The {what} {folder} does not exist. Check the path and try again.")
    if not os.path.isdir(folder):
        raise FledgeError(f"{folder} is a file, not a folder. Give the folder that holds the photos.")
    return folder


def _excluded(path: str, excluded: list[str]) -> bool:
    """Whether path is in one of the excluded folders, as given or with links resolved (a
    destination given through a link into the source folder is still inside it)."""
    return any(is_inside(path, e) or is_really_inside(path, e) for e in excluded)


# How the photos are shared out: spread(paths, run) -> the results of run over every path, in
# order. Default: this process runs them all; core.photos.classify_shards: each of several.
Spread = Callable[[list[str], Callable[[list[str]], list["ClassifiedImage"]]], list["ClassifiedImage"]]


def folder_photos(folder, recursive: bool = False, exclude: Iterable[str] = ()) -> list[str]:
    """The pictures classify_folder runs the model on, in its order (sorted by path)."""
    folder = _check_folder(folder)
    excluded = [os.path.abspath(e) for e in exclude]
    return [p for p in iter_image_files(folder, recursive=recursive) if not _excluded(p, excluded)]


def classify_folder(predictor, folder, recursive: bool = False, batch_size: int = 64, top_k: int = 3,
                    progress: Progress = None, should_stop: ShouldStop = None,
                    exclude: Iterable[str] = (), bursts: bool = True,
                    spread: Spread | None = None) -> list[ClassifiedImage]:
    """Run the model on every picture in folder (sorted by path).

    exclude: folders whose pictures are left out (e.g. the class folders of a sort
    destination inside folder). When should_stop() turns true, the pictures done so far
    are returned. bursts: also say which burst each photo belongs to (core.photos.bursts).
    spread: how the photos are shared among processes (see Spread).
    """
    paths = folder_photos(folder, recursive, exclude)

    def run(some: list[str]) -> list[ClassifiedImage]:
        return classify_paths(predictor, some, batch_size=batch_size, top_k=top_k, progress=progress,
                              should_stop=should_stop)
    results = spread(paths, run) if spread is not None else run(paths)
    if bursts and not (should_stop is not None and should_stop()):
        from core.photos.bursts import with_bursts

        results = with_bursts(results, should_stop=should_stop)
    return results


def classify_paths(predictor, paths: list[str], batch_size: int = 64, top_k: int = 3,
                   progress: Progress = None, should_stop: ShouldStop = None) -> list[ClassifiedImage]:
    """Run the model on these pictures (in this order); stopped early, the ones done so far."""
    if not paths:
        return []
    k = max(1, min(int(top_k), len(getattr(predictor, "classes", ())) or int(top_k)))
    if progress is not None:
        progress(0, len(paths))         # "0 of N" at once: the first batch can take a while
    preds = predictor.predict_many(paths, batch_size=batch_size, top_k=k,
                                   progress=progress, should_stop=should_stop)
    done = list(zip(paths, preds))
    readable = [path for path, pred in done if not pred.error and pred.top]
    # Capture times need one more header read per photo: overlap them on a few threads
    # (not worth starting threads for a handful).
    if len(readable) <= 8:
        captured = {path: exif_datetime(path) for path in readable}
    else:
        with ThreadPoolExecutor(max_workers=4, thread_name_prefix="fledge-exif") as pool:
            captured = dict(zip(readable, pool.map(exif_datetime, readable)))
    out = []
    for path, pred in done:
        if pred.error or not pred.top:
            out.append(ClassifiedImage(path, (), pred.error or "the model gave no answer"))
            continue
        top = tuple((str(c), float(p)) for c, p in pred.top)
        out.append(ClassifiedImage(path, top, None, captured.get(path)))
    return out
