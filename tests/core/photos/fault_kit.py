"""What the fault-injection and kill -9 suites share: odd names, a small photo tree, a fault
injector over core.files.fsops, and the check that every photo is where it was.

Names are bytes (what the file system stores). NASTY_NAMES are the ones cameras, zip files
and other systems really produce; random_name() draws from every byte a name may hold
(anything but "/" and NUL).
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import random

from core.files import file_transfer
from core.photos.answers_csv import read_answers, write_csv
from core.photos.classify import classify_folder
from core.photos.sort_undo import undo
from core.photos.sorting import sort_classified, sort_folder
from tests.fakes import FakePredictor

CLASSES = ["bird", "plane", "cat"]

NASTY_NAMES = [
    b"x\r.\ry.jpg",                       # carriage returns (broke the CSV round trip)
    b"x\rreport.docx\ry.jpg",
    b"line\nfeed.jpg",
    b"caf\xe9.jpg",                        # Latin-1: not UTF-8
    b"\xff\xfe\x80.JPG",
    b"%41%0D.jpg",                         # looks like an escape already
    b"tab\tand \\back.jpeg",
    b"  spaces  .png",
    b"IMG_0001 (2).jpg",                   # looks like a name Fledge makes
    "雀 – ✓ \u202eRTL.jpg".encode(),
    b"\x01\x1b[31mred.jpg",
    b"a" * 251 + b".jpg",                  # 255 bytes: no room for " (2)"
    "é".encode() * 125 + b".jpg",          # 254 bytes of two-byte characters
]
EXTENSIONS = [b".jpg", b".JPG", b".jpeg", b".png", b".webp"]


def random_name(rng: random.Random) -> bytes:
    """A file name of random bytes (none "/" or NUL, not hidden), ending in a picture extension."""
    ext = rng.choice(EXTENSIONS)
    length = rng.choice([1, 2, 5, 12, 40, 120, 255 - len(ext)])
    alphabet = [b for b in range(1, 256) if b != 0x2F]
    stem = bytes(rng.choice(alphabet) for _ in range(length))
    if stem.startswith(b"."):
        stem = b"_" + stem[1:]
    return stem + ext


class BytePredictor(FakePredictor):
    """Answers from a photo's first bytes: fast and deterministic; b"BAD" means unreadable."""

    def __init__(self):
        super().__init__(CLASSES)

    def answer(self, path):
        with open(path, "rb") as f:
            head = f.read(2)
        if head.startswith(b"BA"):
            return "not a picture"
        return CLASSES[head[0] % 3], 0.34 + 0.66 * head[1] / 255


def body(i: int, cls: int, sure: int = 250) -> bytes:
    return bytes([cls, sure]) + f"photo {i} ".encode() + hashlib.sha256(str(i).encode()).digest()


def build(root: str, names: list[bytes], rng: random.Random | None = None) -> tuple[str, str]:
    """root/src with the named photos (two of them byte-identical, in two folders), a
    subfolder, an unreadable file, a document next to the photos' folder; root/dest with a
    file in the way of one photo's name. Returns (src, dest)."""
    rng = rng or random.Random(0)
    src, dest = os.path.join(root, "src"), os.path.join(root, "dest")
    os.makedirs(os.path.join(src, "sub"))
    twin = body(0, 0)
    write(os.path.join(src, "dup.jpg"), twin)
    write(os.path.join(src, "sub", "dup.jpg"), twin)          # the same picture imported twice
    write(os.path.join(src, "broken.jpg"), b"BAD" + os.urandom(4))
    for i, name in enumerate(names, start=1):
        folder = src if rng.random() < 0.7 else os.path.join(src, "sub")
        write(os.fsencode(folder) + b"/" + name, body(i, rng.randrange(3), rng.choice([250, 60])))
    write(os.path.join(root, "report.docx"), b"not a photo, next to the photo folder")
    write(os.path.join(dest, "bird", "dup.jpg"), b"already in dest")
    return src, dest


def write(path, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def snapshot(root: str) -> dict[bytes, str]:
    """Every file under root but Fledge's own bookkeeping (.fledge-* files): path bytes -> sha256."""
    out = {}
    broot = os.fsencode(root)
    for d, dirs, files in os.walk(broot):
        for f in files:
            if f.startswith(b".fledge-"):
                continue
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, broot)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def part_files(root: str) -> list[bytes]:
    prefix = file_transfer.PART_PREFIX.encode()
    return [os.path.join(d, f) for d, _, files in os.walk(os.fsencode(root)) for f in files
            if f.startswith(prefix)]


def sort_once(src: str, dest: str, move: bool, via_csv: bool, threshold: float = 0.5):
    """Classify src and sort it into dest (through a CSV written and read back, if via_csv)."""
    if not via_csv:
        return sort_folder(BytePredictor(), src, dest, threshold=threshold, move=move, recursive=True,
                           keep_structure=True).report
    results = classify_folder(BytePredictor(), src, recursive=True)
    if not results:
        return None
    csv_path = os.path.join(os.path.dirname(dest), ".fledge-answers.csv")
    write_csv(results, csv_path, folder=src)
    answers = read_answers(csv_path)
    assert not answers.refused, answers.refused
    return sort_classified(answers.results, answers.folder, dest, threshold=threshold, move=move,
                           keep_structure=True)


def undo_all(dest: str):
    return undo(dest)


# -- the injector -------------------------------------------------------------------------

KINDS = ("open", "write", "fsync", "link", "rename", "replace", "unlink", "mkdir", "rmdir")
ERRNOS = {"open": [errno.EACCES, errno.ENOSPC], "write": [errno.ENOSPC, errno.EIO], "fsync": [errno.EIO],
          "link": [errno.EIO, errno.EXDEV], "rename": [errno.EIO, errno.EXDEV], "replace": [errno.EIO],
          "unlink": [errno.EIO, errno.EACCES], "mkdir": [errno.ENOSPC], "rmdir": [errno.EIO]}
_FSOPS_NAME = {"open": "open_fd"}


class Crash(BaseException):
    """Stands in for the process dying (not an OSError: nothing handles it)."""


class Injector:
    """Counts the calls Fledge makes through core.files.fsops and fails one when armed.

    arm(kind, n, ghost, err): the n-th call of kind raises OSError(err); with ghost, the call
    takes effect first (a write writes half its bytes), as when a disk reports an error
    for work it did. crash=True raises Crash instead (the process dies there).
    cross_device: links and renames between src and dest fail with EXDEV, as between bind
    mounts; copying_moves: every move copies (another file system); no_links: hard links
    are refused (EPERM), as on FAT cards, so files are renamed.
    """

    def __init__(self, monkeypatch, root: str):
        self.root = root
        self.counts = dict.fromkeys(KINDS, 0)
        self.armed = None
        self.fired = False
        self.cross_device = False
        self.no_links = False
        from core.files import fsops

        # Durability against power loss is not what runs here (kill -9 keeps the page cache):
        # skip the real fsyncs, which only make the suite slow. They are still counted and failed.
        monkeypatch.setattr(os, "fsync", lambda fd: None)
        for kind in KINDS:
            name = _FSOPS_NAME.get(kind, kind)
            monkeypatch.setattr(fsops, name, self._wrap(kind, getattr(fsops, name)))
        real_same = file_transfer._same_device
        self.copying_moves = False
        monkeypatch.setattr(file_transfer, "_same_device",
                            lambda a, b: False if self.copying_moves else real_same(a, b))

    def reset(self) -> None:
        self.counts = dict.fromkeys(KINDS, 0)

    def arm(self, kind: str, n: int, ghost: bool = False, err: int = errno.EIO, crash: bool = False) -> None:
        self.reset()
        self.armed, self.fired = (kind, n, ghost, err, crash), False

    def disarm(self) -> None:
        self.armed = None

    def _top(self, path) -> str:
        rel = os.path.relpath(os.fsdecode(path), self.root)
        return rel.split(os.sep)[0]

    def _wrap(self, kind, fn):
        def call(*args):
            if kind in ("link", "rename") and self.cross_device and self._top(args[0]) != self._top(args[1]):
                raise OSError(errno.EXDEV, "Invalid cross-device link")
            if kind == "link" and self.no_links:
                raise OSError(errno.EPERM, "Operation not permitted")
            self.counts[kind] += 1
            a = self.armed
            if a is None or self.fired or a[0] != kind or self.counts[kind] != a[1]:
                return fn(*args)
            self.fired = True
            _, _, ghost, err, crash = a
            if ghost:
                if kind == "write":
                    fsops_write_half(*args)
                else:
                    fn(*args)
            if crash:
                raise Crash(kind)
            raise OSError(err, os.strerror(err))
        return call


def fsops_write_half(fd, data) -> None:
    """A write that dies half-way: half the bytes reach the file."""
    os.write(fd, bytes(data[: max(1, len(data) // 2)]))


def check_restored(before: dict, root: str) -> list[str]:
    """What is wrong after the last undo (empty: every photo is where it was, nothing extra)."""
    problems = []
    now = snapshot(root)
    lost = sorted(set(before.items()) - set(now.items()))
    extra = sorted(set(now.items()) - set(before.items()))
    if lost:
        problems.append(f"missing or changed: {lost[:3]}")
    if extra:
        problems.append(f"extra: {extra[:3]}")
    if part_files(root):
        problems.append(f"part files left: {part_files(root)[:3]}")
    return problems


def name_pool(rng: random.Random, extra: int) -> list[bytes]:
    """A few of the odd names and of random ones, for one round of a campaign."""
    pool = NASTY_NAMES + [random_name(rng) for _ in range(extra)]
    return list(dict.fromkeys(rng.sample(pool, rng.randint(2, 6))))


def save_report(path: str | None, names: set[bytes], **figures) -> None:
    """Write what a campaign ran (FLEDGE_FAULT_REPORT) as JSON: the figures and the names tried."""
    if path:
        with open(path, "w") as f:
            json.dump({**figures, "names": sorted(n.decode("utf-8", "backslashreplace") for n in names)}, f,
                      indent=1)
