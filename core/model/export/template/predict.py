#!/usr/bin/env python3
"""Classify photos with a model exported from Fledge: no Fledge and no PyTorch needed.

    python predict.py PHOTO                        the most likely classes of one photo
    python predict.py FOLDER --csv answers.csv     every photo in FOLDER, one row each
    python predict.py FOLDER                       the same rows, printed as CSV

Options: --top-k K (classes per photo, default 3), --recursive (include subfolders).
Needs numpy, Pillow and onnxruntime:  pip install onnxruntime numpy pillow
(a TorchScript export needs torch instead of onnxruntime).

Each photo is prepared exactly as Fledge prepares it (export.json says how): turned the
right way up from its EXIF orientation, made 8-bit RGB (transparency on white), its
centre square resized, the centre cropped, scaled and normalised. The CSV has the
columns of `fledge classify --csv` and "decision": the folder `fledge classify --sort-into`
would put the photo in -- its class, "_review" when the model is less sure than the review
threshold saved for that class (export.json's "thresholds"; a class listed under "review"
always), "_unreadable". (This file mirrors Fledge's own reading code, which it
cannot import; Fledge checks at every export that the two give the same answers.)
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import numpy as np
from PIL import Image, ImageOps

HERE = os.path.dirname(os.path.abspath(__file__))
EXPORT_FORMAT = "fledge-export"
EXPORT_VERSION = 1

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".jfif", ".jpe", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp"}
REVIEW, UNREADABLE = "_review", "_unreadable"
EMPTY = "empty file (0 bytes)"
NOT_IMAGE = "not an image Pillow can read"
DAMAGED = "file is truncated or damaged"
NOT_FOUND = "file not found"
NO_PERMISSION = "permission denied: Fledge may not read this file"
_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*")
_ORIENTATION = 0x0112
_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")
_BILINEAR = getattr(Image, "Resampling", Image).BILINEAR

# Over-limit pictures are refused below; Pillow's own warning for them is redundant.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
# torch 2.14 calls TorchScript deprecated at every load; for running this file it works as ever.
warnings.filterwarnings("ignore", message=r"`torch\.jit\.\w+` is deprecated", category=FutureWarning)


class UnreadableImage(Exception):
    """A file that cannot be used as a picture; .reason says why in plain words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# -- reading a picture as Fledge does ------------------------------------------------------

def _too_large(pixels) -> str:
    if pixels is None:
        return "image too large (decompression-bomb limit)"
    return f"image too large ({pixels / 1e6:.0f} megapixels; decompression-bomb limit)"


def _bomb(exc: Exception) -> UnreadableImage:
    m = _BOMB_PIXELS.search(str(exc))
    return UnreadableImage(_too_large(int(m.group(1)) if m else None))


def _looks_like_image(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        return False
    return head.startswith(_SIGNATURES) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def _open(path: str):
    try:
        if os.path.isdir(path):
            raise UnreadableImage("this is a folder, not an image file")
        if os.path.getsize(path) == 0:
            raise UnreadableImage(EMPTY)
        im = Image.open(path)
    except UnreadableImage:
        raise
    except FileNotFoundError:
        raise UnreadableImage(NOT_FOUND) from None
    except PermissionError:
        raise UnreadableImage(NO_PERMISSION) from None
    except Image.DecompressionBombError as exc:
        raise _bomb(exc) from None
    except Exception:
        raise UnreadableImage(DAMAGED if _looks_like_image(path) else NOT_IMAGE) from None
    limit, pixels = Image.MAX_IMAGE_PIXELS, im.size[0] * im.size[1]
    if limit is not None and pixels > limit:
        im.close()
        raise UnreadableImage(_too_large(pixels))
    return im


def _gray_to_uint8(arr: np.ndarray, sixteen_bit: bool) -> np.ndarray:
    arr = np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
    if sixteen_bit or (lo >= 0 and 255 < hi <= 65535):
        arr = arr / 257.0
    elif lo < 0 or hi > 255:
        arr = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
    return np.clip(np.rint(arr), 0, 255).astype(np.uint8)


def to_rgb(im):
    """Any mode to 8-bit RGB; transparency is composited on white."""
    mode = im.mode
    if mode == "RGB" and "transparency" not in im.info:
        return im
    if mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        finite = arr[np.isfinite(arr)]
        if finite.size and finite.min() >= 0 and finite.max() <= 1.0:
            arr = arr * 255.0
        return Image.fromarray(_gray_to_uint8(arr, False), "L").convert("RGB")
    if mode.startswith("I;16") or mode == "I":
        arr = np.asarray(im)
        return Image.fromarray(_gray_to_uint8(arr, mode.startswith("I;16")), "L").convert("RGB")
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info:
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    try:
        return im.convert("RGB")
    except (ValueError, OSError):
        return im.convert("L").convert("RGB")


def load_rgb(path: str, draft_size: int):
    """The picture at path, decoded (JPEGs at reduced size when that keeps draft_size), the
    right way up, in RGB."""
    im = _open(path)
    try:
        if im.format == "JPEG":
            im.draft("RGB" if im.mode == "RGB" else im.mode, (int(draft_size), int(draft_size)))
        try:
            im.load()
        except Image.DecompressionBombError as exc:
            raise _bomb(exc) from None
        except MemoryError:
            raise UnreadableImage("not enough memory to open this image") from None
        except Exception:
            raise UnreadableImage(DAMAGED) from None
        upright = im
        try:
            if im.getexif().get(_ORIENTATION, 1) in range(2, 9):
                upright = ImageOps.exif_transpose(im)
        except Exception:       # a broken EXIF block must not cost the picture itself
            pass
        try:
            out = to_rgb(upright)
        except Exception:
            raise UnreadableImage(DAMAGED) from None
        return out.copy() if out is im else out
    finally:
        im.close()


def decode_square(path: str, side: int) -> np.ndarray:
    """(side, side, 3) uint8: the centre square of the picture, resized (bilinear)."""
    im = load_rgb(path, side)
    w, h = im.size
    s = min(w, h)
    left, top = (w - s) / 2.0, (h - s) / 2.0
    return np.asarray(im.resize((side, side), _BILINEAR, box=(left, top, left + s, top + s)))


# -- the model ------------------------------------------------------------------------------

class Model:
    """The exported network with what it needs to know about its input (export.json)."""

    def __init__(self, folder: str = HERE) -> None:
        path = os.path.join(folder, "export.json")
        try:
            with open(path, encoding="utf-8") as f:
                meta = json.load(f)
        except (OSError, ValueError) as exc:
            raise SystemExit(f"predict.py: cannot read {path} ({exc}); keep predict.py in the "
                             "export folder, next to export.json.") from None
        if meta.get("format") != EXPORT_FORMAT or int(meta.get("format_version", 0)) > EXPORT_VERSION:
            raise SystemExit(f"predict.py: {path} is not an export this predict.py can read.")
        self.meta = meta
        self.classes = [str(c) for c in meta["classes"]]
        prep = meta["preprocessing"]
        self.resize_to = int(prep["resize_to"])
        self.crop = int(prep["crop"])
        mean = np.asarray(prep["mean"], dtype=np.float64)
        std = np.asarray(prep["std"], dtype=np.float64)
        # x/255 normalised = x * scale + shift, computed as Fledge computes it (float64, then float32).
        self._scale = (1.0 / (255.0 * std)).astype(np.float32)
        self._shift = (-mean / std).astype(np.float32)
        self._run = _runner(meta["model"], folder)
        # The review thresholds saved in the model (none: every answer is sorted, as with threshold 0).
        saved = meta.get("thresholds") if isinstance(meta.get("thresholds"), dict) else {}
        self.review = {str(c): str(why) for c, why in (saved.get("review") or {}).items()}
        self.thresholds = {str(c): float(t) for c, t in (saved.get("classes") or {}).items()}
        self.default_threshold = float(saved.get("default", 0.0))
        self.has_thresholds = bool(saved)

    def decision(self, top, error=None) -> str:
        """Where a sort would put the photo: its class, REVIEW (less sure than its class's threshold,
        or a class with no threshold) or UNREADABLE."""
        if error or not top:
            return UNREADABLE
        name, p = top[0]
        if name in self.review or p < self.thresholds.get(name, self.default_threshold):
            return REVIEW
        return name

    def explain(self, top) -> str:
        """Model.decision for one readable photo, in a sentence."""
        name, p = top[0]
        if name in self.review:
            return (f"to review: no threshold could promise the precision asked for '{name}' on the "
                    "validation photos, so a person checks its photos.")
        t = self.thresholds.get(name, self.default_threshold)
        if p < t:
            return f"to review: {p:.0%} sure of '{name}', below its threshold {t:.2f}."
        return f"sure enough: {p:.0%} sure of '{name}', at or above its threshold {t:.2f}."

    def prepare(self, path: str) -> np.ndarray:
        """(3, crop, crop) float32, the network's input for one photo; UnreadableImage if none."""
        arr = decode_square(path, self.resize_to)
        top = (self.resize_to - self.crop) // 2
        arr = arr[top:top + self.crop, top:top + self.crop]
        return (arr.astype(np.float32) * self._scale + self._shift).transpose(2, 0, 1)

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        """(N, 3, crop, crop) float32 -> (N, classes) float32 probabilities."""
        return np.asarray(self._run(np.ascontiguousarray(batch, dtype=np.float32)), dtype=np.float32)


def _runner(model: dict, folder: str):
    path = os.path.join(folder, model["file"])
    if model["format"] == "onnx":
        try:
            import onnxruntime
        except ImportError:
            raise SystemExit("predict.py needs onnxruntime: pip install onnxruntime numpy pillow") from None
        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda x: session.run(None, {name: x})[0]
    if model["format"] == "torchscript":
        try:
            import torch
        except ImportError:
            raise SystemExit("This TorchScript export needs PyTorch: pip install torch numpy pillow") from None
        net = torch.jit.load(path, map_location="cpu").eval()

        def run(x):
            with torch.inference_mode():
                return net(torch.from_numpy(x)).numpy()
        return run
    raise SystemExit(f"predict.py: unknown model format {model['format']!r} in export.json.")


# -- many photos ----------------------------------------------------------------------------

def image_files(folder: str, recursive: bool = False) -> list:
    """Non-hidden files with picture extensions, sorted by name (Fledge's order); follows
    links but enters each real folder once."""
    seen, out = set(), []

    def walk(d: str) -> None:
        real = os.path.realpath(d)
        if real in seen:
            return
        seen.add(real)
        try:
            with os.scandir(d) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            return
        for e in entries:
            if e.name.startswith("."):
                continue
            try:
                is_dir = e.is_dir()
                is_file = not is_dir and e.is_file()
            except OSError:
                continue
            if is_dir and recursive:
                walk(e.path)
            elif is_file and os.path.splitext(e.name)[1].lower() in IMAGE_EXTENSIONS:
                out.append(e.path)

    walk(folder)
    return out


def captured(path: str):
    """When the photo was taken (EXIF), as ISO "YYYY-MM-DDTHH:MM:SS", else None."""
    try:
        with Image.open(path) as im:
            exif = im.getexif()
            values = []
            try:
                values.append(exif.get_ifd(0x8769).get(36867))      # DateTimeOriginal
            except Exception:
                pass
            values.append(exif.get(306))                            # DateTime
    except Exception:
        return None
    for value in values:
        if isinstance(value, bytes):
            value = value.decode("ascii", "replace")
        if isinstance(value, str):
            try:
                return datetime.strptime(value.strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S").isoformat()
            except ValueError:
                continue
    return None


def _prepared(model: Model, path: str):
    try:
        return model.prepare(path), None
    except UnreadableImage as exc:
        return None, exc.reason
    except MemoryError:
        return None, "not enough memory to open this image"
    except Exception as exc:
        return None, f"could not be read ({type(exc).__name__}: {exc})"


def classify(model: Model, paths: list, top_k: int = 3, batch_size: int = 32) -> list:
    """One dict per path, in order: path, top [(class, probability)...], error, captured."""
    k = max(1, min(int(top_k), len(model.classes)))
    rows = []
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        for start in range(0, len(paths), batch_size):
            chunk = paths[start:start + batch_size]
            done = list(pool.map(lambda p: _prepared(model, p), chunk))
            good = [i for i, (x, _) in enumerate(done) if x is not None]
            probs = model.probabilities(np.stack([done[i][0] for i in good])) if good else None
            row_of = {i: r for r, i in enumerate(good)}
            for i, (path, (_, error)) in enumerate(zip(chunk, done)):
                top = []
                if error is None:
                    p = probs[row_of[i]]
                    top = [(model.classes[j], float(p[j])) for j in np.argsort(-p, kind="stable")[:k]]
                rows.append({"path": path, "top": top, "error": error, "decision": model.decision(top, error),
                             "captured": captured(path) if error is None else None})
    return rows


_ESCAPE = re.compile(r"[%\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def encode_path(path: str) -> str:
    """path as Fledge's CSV writes it: "%", control and separator characters and undecodable
    bytes as %XX of the file system's bytes, a trailing space as %20, so any name round-trips."""
    text = _ESCAPE.sub(lambda m: "".join(f"%{b:02X}" for b in os.fsencode(m.group(0))), path)
    return text[:-1] + "%20" if text.endswith(" ") else text


def _text(value) -> str:
    return "" if value is None else str(value).encode("utf-8", "backslashreplace").decode("utf-8")


def write_csv(rows: list, out, folder: str) -> None:
    """The columns of `fledge classify --csv`: path, class, probability, class_2, ...,
    captured, error, folder (the folder that was classified); then decision (Model.decision)."""
    k = max([len(r["top"]) for r in rows] + [1])
    header = ["path", "class", "probability"]
    for i in range(2, k + 1):
        header += [f"class_{i}", f"probability_{i}"]
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(header + ["captured", "error", "folder", "decision"])
    for r in rows:
        cells = [encode_path(r["path"])]
        for i in range(k):
            cells += [_text(r["top"][i][0]), f"{r['top'][i][1]:.6f}"] if i < len(r["top"]) else ["", ""]
        w.writerow(cells + [_text(r["captured"]), _text(r["error"]), encode_path(folder), _text(r["decision"])])


# -- command line ---------------------------------------------------------------------------

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Classify a photo, or every photo in a folder, "
                                             "with the model exported next to this file.")
    ap.add_argument("path", help="a photo, or a folder of photos")
    ap.add_argument("--csv", metavar="OUT.csv", help="write a folder's answers to this CSV file")
    ap.add_argument("--top-k", type=int, default=3, metavar="K", help="classes per photo (default 3)")
    ap.add_argument("--recursive", "-r", action="store_true", help="include photos in subfolders")
    ap.add_argument("--batch-size", type=int, default=32)
    args = ap.parse_args(argv)
    if args.top_k < 1 or args.batch_size < 1:
        ap.error("--top-k and --batch-size must be at least 1")
    path = os.path.abspath(os.path.expanduser(args.path))
    if not os.path.exists(path):
        print(f"predict.py: {path} does not exist.", file=sys.stderr)
        return 1
    model = Model()
    if not os.path.isdir(path):
        row = classify(model, [path], args.top_k)[0]
        if row["error"]:
            print(f"predict.py: {path}: {row['error']}", file=sys.stderr)
            return 1
        for name, p in row["top"]:
            print(f"{name}\t{p:.4f}")
        if model.has_thresholds:
            print(f"predict.py: {model.explain(row['top'])}", file=sys.stderr)
        return 0
    rows = classify(model, image_files(path, args.recursive), args.top_k, args.batch_size)
    if not rows:
        print(f"predict.py: no photos in {path}" + ("" if args.recursive else " (add --recursive "
              "to include subfolders)"), file=sys.stderr)
        return 1
    if args.csv:
        buf = io.StringIO()
        write_csv(rows, buf, path)
        with open(args.csv, "w", encoding="utf-8-sig", newline="") as f:
            f.write(buf.getvalue())
        print(f"Wrote {os.path.abspath(args.csv)} ({len(rows)} photos).", file=sys.stderr)
    else:
        write_csv(rows, sys.stdout, path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
