"""Feature vectors kept on disk between runs, so each photo goes through the backbone once.

A store is one folder per backbone and preprocessing (features/<backbone>/<variant>/)
holding chunk files: chunk-*.npz with `keys` (one string per row) and `vectors`
(float32, rows x dim). A key names the file as it was (real path, size, modification
time) and the view, so a changed photo simply misses and is computed again; stale rows
are dropped when new ones are written. Chunks are immutable and written atomically
(core.files.fileio), so readers in other threads or processes never see half a file, and a
chunk deleted under a reader only means a miss. The whole features folder is kept under
a byte budget by deleting the least recently used chunks.

It is only a cache: a damaged or unreadable chunk is set aside (its photos are computed again),
and a store that cannot be written (read-only, full, a file in the way) only costs time later;
either is said in one line (core.files.cache_faults), never raised.
"""
from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.files.cache_faults import cache_unreadable, cache_unwritable
from core.files.fileio import atomic_write

CHUNK_ROWS = 1024                 # rows per chunk file written at once
SMALL_CHUNK = CHUNK_ROWS // 4     # chunks below this are merged once there are many
MAX_SMALL_CHUNKS = 8
DEFAULT_MAX_BYTES = 1 << 30       # all backbones together; ~50,000 photos x 2 views
_PATTERN = "chunk-*.npz"
WHAT = "feature cache"


def default_root() -> Path:
    """<user data dir>/features (imported late: runs pulls in the training config)."""
    from core.files.user_data import user_data_dir

    return user_data_dir() / "features"


def entry_key(view: str, real_path: str, size: int, mtime_ns: int) -> str:
    """The key of one view of one file version (path last: it may hold any character)."""
    return f"{view}|{int(size)}|{int(mtime_ns)}|{real_path}"


def _file_of(key: str) -> tuple[str, int, int]:
    _, size, mtime, path = key.split("|", 3)
    return path, int(size), int(mtime)


class FeatureStore:
    """The chunk files of one folder, with an in-memory index key -> (chunk, row)."""

    def __init__(self, folder: str | os.PathLike, root: str | os.PathLike | None = None,
                 max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.folder = Path(folder)
        self.root = Path(root) if root is not None else self.folder
        self.max_bytes = int(max_bytes)
        self._lock = threading.RLock()
        self._index: dict[str, tuple[str, int]] = {}
        self._chunk_rows: dict[str, int] = {}
        self._bad: set[str] = set()        # damaged chunks that could not be deleted

    # -- the index ------------------------------------------------------------------------

    def _refresh(self) -> None:
        """Pick up chunks written by others and forget deleted ones."""
        names = {p.name for p in self.folder.glob(_PATTERN)} if self.folder.is_dir() else set()
        for gone in set(self._chunk_rows) - names:
            self._forget(gone)
        for name in sorted(names - set(self._chunk_rows) - self._bad):
            try:
                with np.load(self.folder / name, allow_pickle=False) as z:
                    keys = z["keys"]
                if keys.ndim != 1 or keys.dtype.kind != "U":
                    raise ValueError("its keys are not a list of names")
                keys = keys.tolist()
            except FileNotFoundError:
                continue                  # deleted meanwhile by another process
            except Exception as exc:      # noqa: BLE001 - cut short, damaged or unreadable: all mean set aside
                self._set_aside(name, exc)
                continue
            self._chunk_rows[name] = len(keys)
            for row, key in enumerate(keys):
                self._index[key] = (name, row)

    def _set_aside(self, name: str, exc: BaseException) -> None:
        """A chunk that cannot be used: said once, deleted (it is only a cache), its photos missed."""
        cache_unreadable(WHAT, self.folder / name, exc)
        self._forget(name)
        try:
            os.unlink(self.folder / name)
        except FileNotFoundError:
            pass
        except OSError:
            self._bad.add(name)           # a read-only store: skip it from now on

    def _forget(self, name: str) -> None:
        self._chunk_rows.pop(name, None)
        for key in [k for k, (n, _) in self._index.items() if n == name]:
            del self._index[key]

    def __len__(self) -> int:
        with self._lock:
            self._refresh()
            return len(self._index)

    # -- reading and writing --------------------------------------------------------------

    def get(self, keys: Sequence[str], dim: int) -> tuple[np.ndarray, np.ndarray]:
        """(vectors (n, dim) float32, found (n,) bool); rows not found are zeros."""
        out = np.zeros((len(keys), dim), dtype=np.float32)
        found = np.zeros(len(keys), dtype=bool)
        with self._lock:
            self._refresh()
            by_chunk: dict[str, list[tuple[int, int]]] = {}
            for i, key in enumerate(keys):
                hit = self._index.get(key)
                if hit is not None:
                    by_chunk.setdefault(hit[0], []).append((i, hit[1]))
            for name, pairs in by_chunk.items():
                vectors = self._vectors(name, dim)
                if vectors is None:
                    continue              # deleted or damaged: those photos are computed again
                try:
                    os.utime(self.folder / name)   # recently used: kept longest under the budget
                except OSError:
                    pass                  # a read-only store is still read
                idx = np.array([i for i, _ in pairs])
                out[idx] = vectors[np.array([r for _, r in pairs])]
                found[idx] = True
        return out, found

    def _vectors(self, name: str, dim: int | None = None) -> np.ndarray | None:
        """A chunk's vectors, or None when it is gone or set aside as damaged."""
        try:
            with np.load(self.folder / name, allow_pickle=False) as z:
                vectors = z["vectors"]
            if (vectors.ndim != 2 or vectors.dtype.kind != "f" or vectors.shape[0] != self._chunk_rows[name]
                    or (dim is not None and vectors.shape[1] != dim)):
                raise ValueError(f"its vectors have the shape {vectors.shape}")
        except FileNotFoundError:
            self._forget(name)
            return None
        except Exception as exc:          # noqa: BLE001 - cut short, damaged or unreadable
            self._set_aside(name, exc)
            return None
        return vectors

    def put(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        """Store rows (then drop stale ones and keep within the budget). A store that cannot be
        written is said once and otherwise ignored: the rows are computed again next time."""
        if len(keys) == 0:
            return
        with self._lock:
            try:
                self._write(list(keys), np.asarray(vectors, dtype=np.float32))
            except OSError as exc:
                cache_unwritable(WHAT, self.folder, exc)
            self.prune()

    def _write(self, keys: list[str], vectors: np.ndarray) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for start in range(0, len(keys), CHUNK_ROWS):
            part = keys[start:start + CHUNK_ROWS]
            name = f"chunk-{time.time_ns():x}-{os.getpid()}-{secrets.token_hex(4)}.npz"
            arrays = {"keys": np.array(part, dtype=str),
                      "vectors": vectors[start:start + CHUNK_ROWS]}
            atomic_write(self.folder / name, lambda f: np.savez(f, **arrays))
            self._chunk_rows[name] = len(part)
            for row, key in enumerate(part):
                self._index[key] = (name, row)

    def _read_rows(self, name: str, rows: list[int]) -> tuple[list[str], np.ndarray] | None:
        vectors = self._vectors(name)
        if vectors is None:
            return None
        key_of = {row: key for key, (n, row) in self._index.items() if n == name}   # live rows are indexed
        return [key_of[r] for r in rows], vectors[rows]

    # -- keeping it small -----------------------------------------------------------------

    def _live_rows(self) -> dict[str, list[int]]:
        """chunk -> its rows whose file is unchanged (and that the index points at)."""
        stats: dict[str, tuple[int, int] | None] = {}
        live: dict[str, list[int]] = {name: [] for name in self._chunk_rows}
        for key, (name, row) in self._index.items():
            try:
                path, size, mtime = _file_of(key)
            except ValueError:
                continue                  # not a key of ours: the row is dropped
            if path not in stats:
                try:
                    st = os.stat(path)
                    stats[path] = (st.st_size, st.st_mtime_ns)
                except OSError:
                    stats[path] = None
            if stats[path] == (size, mtime):
                live[name].append(row)
        return live

    def prune(self) -> None:
        """Drop rows of changed or deleted photos, merge small chunks, keep the budget."""
        with self._lock:
            self._refresh()
            live = self._live_rows()
            rewrite = [n for n, rows in live.items()
                       if len(rows) < self._chunk_rows[n] / 2 or len(rows) < SMALL_CHUNK]
            if sum(1 for n in rewrite if live[n]) <= MAX_SMALL_CHUNKS:
                # Few small chunks: only the mostly stale ones are worth rewriting.
                rewrite = [n for n in rewrite if len(live[n]) < self._chunk_rows[n] / 2]
            keys: list[str] = []
            parts: list[np.ndarray] = []
            for name in rewrite:
                got = self._read_rows(name, sorted(live[name])) if live[name] else None
                if got is not None:
                    keys += got[0]
                    parts.append(got[1])
            if keys:
                try:
                    self._write(keys, np.concatenate(parts))
                except OSError as exc:
                    cache_unwritable(WHAT, self.folder, exc)
                    rewrite = [n for n in rewrite if not live[n]]   # their old chunks still hold them
            for name in rewrite:
                self._delete(name)
            self._keep_budget()

    def _delete(self, name: str) -> None:
        try:
            os.unlink(self.folder / name)
        except OSError:
            pass
        self._forget(name)

    def _keep_budget(self) -> None:
        """Delete the least recently used chunks of any store under root above max_bytes."""
        chunks = []
        for path in self.root.rglob(_PATTERN):
            try:
                st = path.stat()
            except OSError:
                continue
            chunks.append((st.st_mtime_ns, st.st_size, path))
        total = sum(size for _, size, _ in chunks)
        for _, size, path in sorted(chunks, key=lambda c: c[0]):
            if total <= self.max_bytes:
                break
            if path.parent == self.folder:
                self._delete(path.name)
            else:
                try:
                    os.unlink(path)
                except OSError:
                    pass
            total -= size


_stores: dict[tuple[str, str, int], FeatureStore] = {}
_stores_lock = threading.Lock()


def store_for(backbone_id: str, variant: str, root: str | os.PathLike | None = None,
              max_bytes: int = DEFAULT_MAX_BYTES) -> FeatureStore:
    """The one store object of this process for a folder (threads share its index and lock)."""
    root = Path(root) if root is not None else default_root()
    folder = root / backbone_id / variant
    key = (os.path.abspath(folder), os.path.abspath(root), int(max_bytes))
    with _stores_lock:
        store = _stores.get(key)
        if store is None:
            store = _stores[key] = FeatureStore(folder, root=root, max_bytes=max_bytes)
        return store
