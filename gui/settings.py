"""What the window remembers between sessions: every setting declared once here, with its key,
its type and its default, and one Settings object that reads and writes them.

    settings = Settings()                    # made once by the app; MainWindow hands it to every tab
    settings.get(SORT_MOVE)                  # -> bool, whatever the file holds
    settings.set(SORT_MOVE, True)

Values come back as their declared type: an INI file keeps only text ("true", "3", a lone
"x" for a one-item list), and what earlier Fledge versions wrote (booleans kept by hand as
"true"/"false", the same keys) reads as it did. A value that cannot be read as its type is
the default, never an error. This is the only module that makes a QSettings.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QByteArray, QSettings

from core.training.config import config_options

T = TypeVar("T")

# Where settings go instead of the user's own (tests, screenshots): a folder for an INI file.
SETTINGS_DIR_ENV = "FLEDGE_SETTINGS_DIR"

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")
_DECLARED: dict[str, "Setting"] = {}


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One remembered value: key, type (bool, int, float, str, list of str, bytes) and default.
    optional: an empty value (0, '') is kept for None, which it reads back as; a float's is ''
    (0.0 is a value: an augmentation strength of 0 is not the preset's)."""

    key: str
    kind: type
    default: T
    optional: bool = False

    def __post_init__(self) -> None:
        if self.key in _DECLARED:
            raise ValueError(f"the setting {self.key!r} is declared twice")
        _DECLARED[self.key] = self


def declared() -> dict[str, Setting]:
    """Every setting declared, by key."""
    return dict(_DECLARED)


# -- the window -------------------------------------------------------------------------
WINDOW_GEOMETRY = Setting("window/geometry", bytes, b"")
WINDOW_TAB = Setting("window/tab", int, 0)
DATASET_DIALOG_FOLDER = Setting("paths/dataset", str, "")      # where File > Open dataset starts
MODEL_DIALOG_FOLDER = Setting("paths/model", str, "")          # where File > Open model starts
LAST_DATASET = Setting("dataset/last", str, "")                # opened again at the next start
LAST_MODEL = Setting("models/last", str, "")                   # the window's model, loaded again

# -- the tabs ----------------------------------------------------------------------------
RECENT_DATASETS = Setting("dataset/recent", list, [])          # newest first
PREDICT_MODEL_FOLDER = Setting("predict/last_model_dir", str, "")
PREDICT_PHOTO_FOLDER = Setting("predict/last_photo_dir", str, "")
EVALUATE_MODEL_FOLDER = Setting("evaluate/last_model_dir", str, "")
EVALUATE_SPLIT = Setting("evaluate/split", str, "val")
SORT_MODEL_FOLDER = Setting("sort/last_model_dir", str, "")
SORT_FOLDER = Setting("sort/folder", str, "")
SORT_DEST = Setting("sort/dest", str, "")
SORT_RECURSIVE = Setting("sort/recursive", bool, False)
SORT_CERTAINTY = Setting("sort/threshold", int, 80)            # percent
SORT_OWN_THRESHOLDS = Setting("sort/own_thresholds", bool, True)
SORT_MOVE = Setting("sort/move", bool, False)
SORT_KEEP_SUBFOLDERS = Setting("sort/keep", bool, False)
SORT_BURSTS = Setting("sort/bursts", bool, False)
SORT_LABELLED_INTO = Setting("sort/labelled_into", list, [])   # datasets photos were labelled into, newest last
REVIEW_MODEL_FOLDER = Setting("review/last_model_dir", str, "")
REVIEW_COPY = Setting("review/copy", bool, False)
REVIEW_BURSTS = Setting("review/bursts", bool, False)

# The Train tab's form, one setting per TrainConfig field: what each field is (its type, whether
# it may be empty, its default) is core's table of options, the one owner of it.
TRAIN = {opt.name: Setting(f"train/{opt.name}", opt.kind, opt.default, opt.optional)
         for opt in config_options()}
# Each recipe's own epochs (a few for quick's short ones, more for custom): the recipe chosen
# shows the epochs last chosen under it.
TRAIN_RECIPE_EPOCHS = {recipe: Setting(f"train_epochs/{recipe}", int, TRAIN["epochs"].default)
                       for recipe in next(o for o in config_options() if o.name == "recipe").choices}


_MISSING: Any = object()


class Settings:
    """The remembered settings (a QSettings underneath: the user's, or an INI file)."""

    def __init__(self, store: QSettings | None = None) -> None:
        self._store = store if store is not None else QSettings()

    @classmethod
    def in_file(cls, path: str | os.PathLike) -> "Settings":
        """Settings kept in this INI file (tests, tools)."""
        return cls(QSettings(os.fspath(path), QSettings.Format.IniFormat))

    def get(self, setting: Setting[T], default: Any = _MISSING) -> T:
        """The stored value as setting.kind; default (else the setting's) when none is stored
        or it cannot be read as that type."""
        fallback = setting.default if default is _MISSING else default
        value = _typed(self._store.value(setting.key), setting.kind, fallback)
        if setting.optional and (value is None or (not value and setting.kind is not float)):
            return None  # type: ignore[return-value]
        return list(value) if setting.kind is list else value      # never the declared default itself

    def set(self, setting: Setting[T], value: T) -> None:
        if value is None and setting.optional:
            value = "" if setting.kind is float else setting.kind()   # an INI file cannot hold None
        if setting.kind is bytes:
            value = QByteArray(bytes(value))
        elif setting.kind is list:
            value = [str(v) for v in value]
        self._store.setValue(setting.key, value)

    def has(self, setting: Setting) -> bool:
        """Whether a value was ever stored (the person chose it)."""
        return self._store.contains(setting.key)

    def remove(self, setting: Setting) -> None:
        self._store.remove(setting.key)

    def sync(self) -> None:
        self._store.sync()

    def file_name(self) -> str:
        return self._store.fileName()


def _typed(raw: Any, kind: type, default: Any) -> Any:
    """raw (as a QSettings store hands it back: text from an INI file, typed values from the
    Windows registry or a macOS plist) as kind; default when it is not one."""
    if raw is None:
        return default
    try:
        if kind is bool:
            if isinstance(raw, str):
                text = raw.strip().lower()
                return True if text in _TRUE else False if text in _FALSE else default
            return bool(raw) if isinstance(raw, (bool, int, float)) else default
        if kind is int:
            return int(float(raw)) if not isinstance(raw, (list, QByteArray)) else default
        if kind is float:
            f = float(raw)
            return f if math.isfinite(f) else default
        if kind is str:
            return str(raw) if isinstance(raw, (str, int, float)) else default
        if kind is list:
            items = [raw] if isinstance(raw, str) else raw if isinstance(raw, (list, tuple)) else None
            return default if items is None else [str(v) for v in items if v]
        if kind is bytes:
            return bytes(raw.data()) if isinstance(raw, QByteArray) else bytes(raw) if isinstance(raw, bytes) \
                else default
    except (TypeError, ValueError, OverflowError):
        return default
    raise TypeError(f"settings cannot hold a {kind.__name__}")


def use_folder(folder: str) -> None:
    """Keep every Settings() in an INI file in this folder instead of the user's own settings."""
    os.makedirs(folder, exist_ok=True)
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
        QSettings.setPath(QSettings.Format.IniFormat, scope, folder)


def use_folder_from_environment() -> None:
    """use_folder($FLEDGE_SETTINGS_DIR) when it is set."""
    folder = os.environ.get(SETTINGS_DIR_ENV)
    if folder:
        use_folder(folder)
