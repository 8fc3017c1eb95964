"""Loading a model file for the panels: loaded once, kept while the file is unchanged."""
from __future__ import annotations

import os
import threading
from collections import OrderedDict

from core.photos.journal import path_key

CONFIG_FILE = "config.json"

def run_dir_of(model_path: str) -> str:
    """The training run folder a model file belongs to ('' for a model file on its own)."""
    if not model_path:
        return ""
    folder = os.path.dirname(os.path.abspath(model_path))
    return folder if os.path.isfile(os.path.join(folder, CONFIG_FILE)) else ""



_cache_lock = threading.Lock()
_cache: OrderedDict = OrderedDict()
_CACHE_SIZE = 2


def load_predictor(path: str):
    """A ready core.model.predictor.Predictor for a model file (worker threads only: imports torch).

    The evaluate, sort and review panels usually use the same model; it is loaded once
    and kept while the file is unchanged.
    """
    from core.model.predictor import Predictor

    path = os.path.abspath(os.fspath(path))
    try:
        st = os.stat(path)
        key = (path_key(path), st.st_mtime_ns, st.st_size)
    except OSError:
        key = None                  # from_checkpoint says what is wrong in plain words
    if key is not None:
        with _cache_lock:
            hit = _cache.get(key)
            if hit is not None:
                _cache.move_to_end(key)
                return hit
    predictor = Predictor.from_checkpoint(path)
    if key is not None:
        with _cache_lock:
            _cache[key] = predictor
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
    return predictor

