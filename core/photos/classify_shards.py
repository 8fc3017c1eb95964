"""Classifying one folder with several processes: each runs the model on its share of the
photos, and the answers come together in the folder's order.

    spread = sharded(rank, world, all_gather)       # all_gather(part) -> [every rank's part]
    results = classify_folder(predictor, folder, spread=spread)     # the same list on each rank

Photo i goes to rank i mod world, so the shares differ by one photo at most. Only answers
travel (paths, top classes, capture times), never pixels or tensors. Sorting and the journal
stay with one process (core.cli.classify_worker: rank 0), after the answers are together, so
the CSV and the moves are those of a single-process run.
"""
from __future__ import annotations

from collections.abc import Callable

from core.photos.classify import ClassifiedImage, Spread


def share(paths: list[str], rank: int, world: int) -> list[str]:
    """This rank's photos: every world-th one, starting at its rank."""
    return list(paths[rank::world])


def merge(parts: list[list[ClassifiedImage]], paths: list[str]) -> list[ClassifiedImage]:
    """Every rank's answers in the order of paths (photos a stopped rank never reached are left out)."""
    by_path = {r.path: r for part in parts for r in part}
    return [by_path[p] for p in paths if p in by_path]


def sharded(rank: int, world: int, all_gather: Callable[[list[ClassifiedImage]], list[list[ClassifiedImage]]]
            ) -> Spread:
    def spread(paths: list[str], run: Callable[[list[str]], list[ClassifiedImage]]) -> list[ClassifiedImage]:
        return merge(all_gather(run(share(paths, rank, world))), paths)
    return spread


def torch_all_gather(part: list[ClassifiedImage]) -> list[list[ClassifiedImage]]:
    """all_gather of plain answers over the process group (torch.distributed, already joined)."""
    import torch.distributed as dist

    parts: list = [None] * dist.get_world_size()
    dist.all_gather_object(parts, [(r.path, r.top, r.error, r.captured, r.burst) for r in part])
    return [[ClassifiedImage(*row) for row in got] for got in parts]
