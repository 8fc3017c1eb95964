"""Labels a person has looked at and kept: the label check does not ask about them again.

    kept = KeptLabels("~/birds")
    kept.keep("~/birds/robin/IMG_1.jpg", "robin")     # "it is right as filed"
    to_ask, n_kept = kept.to_ask(check.suggestions)    # core.photos.check_labels suggestions
    kept.unkeep("~/birds/robin/IMG_1.jpg")             # undo

The decisions live in DATA/.fledge-kept-labels.json (a hidden file, so a scan never
takes it for a photo), written atomically. A decision is keyed by the photo's place
inside the dataset and remembers its class and file size: a photo moved to another
class folder, or replaced by another file of the same name, is asked about again.
"""
from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable

from core.errors import FledgeError
from core.files.fileio import atomic_write_text
from core.files.file_transfer import describe_os_error, is_inside

KEPT_FILE = ".fledge-kept-labels.json"
VERSION = 1


class KeptLabels:
    """The photos of one dataset whose label a person confirmed; safe to use from any thread."""

    def __init__(self, root) -> None:
        self.root = os.path.abspath(os.path.expanduser(os.fspath(root)))
        self.path = os.path.join(self.root, KEPT_FILE)
        self._lock = threading.Lock()

    # -- reading --------------------------------------------------------------------------
    def _key(self, path) -> str:
        path = os.path.abspath(os.fspath(path))
        if not is_inside(path, self.root):
            raise FledgeError(f"{path} is not inside the dataset {self.root}.")
        return os.path.relpath(path, self.root).replace(os.sep, "/")

    def _load(self) -> dict[str, dict]:
        """The decisions on disk; a missing or damaged file counts as none (nothing is lost
        but a few questions asked again)."""
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
            kept = data.get("kept", {})
            return {str(k): dict(v) for k, v in kept.items() if isinstance(v, dict)}
        except (OSError, ValueError, AttributeError, TypeError, RecursionError):
            return {}

    def _save(self, kept: dict[str, dict]) -> None:
        try:
            atomic_write_text(self.path, json.dumps({"version": VERSION, "kept": kept}, indent=1, sort_keys=True))
        except OSError as exc:
            raise FledgeError(f"Could not write {self.path} ({describe_os_error(exc)}), so the decision was not "
                              "remembered. Check that the dataset folder can be written to.") from None

    @staticmethod
    def _size(path) -> int | None:
        try:
            return os.path.getsize(path)
        except OSError:
            return None

    def is_kept(self, path, class_name: str, _kept: dict | None = None) -> bool:
        """Whether this photo, filed as class_name, was kept (and is still the same file)."""
        try:
            entry = (self._load() if _kept is None else _kept).get(self._key(path))
        except FledgeError:
            return False
        return (entry is not None and entry.get("class") == class_name
                and entry.get("size") == self._size(path))

    def to_ask(self, suggestions: Iterable) -> tuple[list, int]:
        """(the suggestions still to ask about, in order; how many were left out as kept)."""
        suggestions, kept = list(suggestions), self._load()
        ask = [s for s in suggestions if not self.is_kept(s.path, s.given, kept)]
        return ask, len(suggestions) - len(ask)

    def count(self) -> int:
        return len(self._load())

    # -- deciding -------------------------------------------------------------------------
    def keep(self, path, class_name: str) -> None:
        """Remember that this photo is right as filed under class_name."""
        key = self._key(path)
        size = self._size(path)
        if size is None:
            raise FledgeError(f"The photo {path} is no longer there (moved or deleted).")
        with self._lock:
            kept = self._load()          # again: another window may have kept photos since
            kept[key] = {"class": class_name, "size": size}
            self._save(kept)

    def unkeep(self, path) -> None:
        """Forget a keep (undo): the check asks about the photo again."""
        key = self._key(path)
        with self._lock:
            kept = self._load()
            if kept.pop(key, None) is not None:
                self._save(kept)


__all__ = ["KeptLabels", "KEPT_FILE"]
