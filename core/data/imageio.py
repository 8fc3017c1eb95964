"""Reading images: which files count, decoding any of them to RGB, cheap checks.

Every image file Pillow can open is accepted whatever its mode (grayscale, palette,
alpha, CMYK, 16-bit, float); load_rgb turns it into an 8-bit RGB picture the right
way up. Problems with one file become ImageError(path, reason) with a reason a
person can read, so the caller can skip the file and say why.
"""
from __future__ import annotations

import io
import os
import re
import struct
import warnings
from collections.abc import Iterator
from datetime import datetime

import numpy as np
from PIL import Image, ImageOps

from core.errors import ImageError
from core.wording import plural

# .jfif/.jpe are JPEGs under names that browsers and Windows like to use.
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".jfif", ".jpe", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp"}

EMPTY = "empty file (0 bytes)"
NOT_IMAGE = "not a picture Fledge can read"
DAMAGED = "file is truncated or damaged"
NOT_FOUND = "file not found"
NO_PERMISSION = "permission denied: Fledge may not read this file"

# Fledge enforces Pillow's decompression-bomb limit itself (see _check_pixels) and
# treats an over-limit picture as unusable. Pillow would also warn for it, but
# warnings.catch_warnings is process-wide and unsafe while several threads decode,
# so the redundant warning is silenced once here instead.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)

_ORIENTATION = 0x0112
_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")


def is_image_name(name: str | os.PathLike) -> bool:
    """True for a non-hidden file name with an image extension (any case)."""
    base = os.path.basename(os.fspath(name))
    if not base or base.startswith("."):
        return False
    return os.path.splitext(base)[1].lower() in IMAGE_EXTENSIONS


def _pixels(n: int) -> str:
    return f"{n / 1e6:,.0f} megapixels" if n >= 1_000_000 else plural(n, "pixel")


def _too_large(pixels: int | None) -> str:
    """Pictures this large are refused (Pillow's decompression-bomb limit): one could fill the memory."""
    limit = Image.MAX_IMAGE_PIXELS
    most = f"Fledge opens pictures of up to {_pixels(limit)}; " if limit else ""
    size = f" ({_pixels(pixels)})" if pixels is not None else ""
    return f"picture too large to open safely{size}: {most}make it smaller in a photo editor to use it"


def _check_pixels(im: Image.Image) -> str | None:
    limit = Image.MAX_IMAGE_PIXELS
    pixels = im.size[0] * im.size[1]
    if limit is not None and pixels > limit:
        return _too_large(pixels)
    return None


def _bomb_reason(exc: Exception) -> str:
    m = _BOMB_PIXELS.search(str(exc))
    return _too_large(int(m.group(1)) if m else None)


_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*")


def _looks_like_image(src) -> bool:
    """Whether the first bytes carry a known image signature (then it is damaged, not foreign)."""
    try:
        if isinstance(src, (bytes, bytearray, memoryview)):
            head = bytes(src[:12])
        else:
            with open(src, "rb") as f:
                head = f.read(12)
    except OSError:
        return False
    return head.startswith(_SIGNATURES) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def _open(src, label: str) -> Image.Image:
    """Image.open with every failure turned into ImageError(label, reason)."""
    try:
        if isinstance(src, (bytes, bytearray, memoryview)):
            if len(src) == 0:
                raise ImageError(label, EMPTY)
            im = Image.open(io.BytesIO(bytes(src)))
        else:
            if os.path.isdir(src):
                raise ImageError(label, "this is a folder, not an image file")
            if os.path.getsize(src) == 0:
                raise ImageError(label, EMPTY)
            im = Image.open(src)
    except ImageError:
        raise
    except FileNotFoundError:
        raise ImageError(label, NOT_FOUND) from None
    except PermissionError:
        raise ImageError(label, NO_PERMISSION) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(label, _bomb_reason(exc)) from None
    except Exception:  # UnidentifiedImageError; plugins raise SyntaxError, struct.error, ...
        raise ImageError(label, DAMAGED if _looks_like_image(src) else NOT_IMAGE) from None
    reason = _check_pixels(im)
    if reason:
        im.close()
        raise ImageError(label, reason)
    return im


def _gray_to_uint8(arr: np.ndarray, sixteen_bit: bool) -> np.ndarray:
    """Map a one-channel integer or float array to 0..255."""
    arr = np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
    if sixteen_bit or (lo >= 0 and 255 < hi <= 65535):
        arr = arr / 257.0                      # 16-bit range
    elif lo < 0 or hi > 255:
        arr = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
    return np.clip(np.rint(arr), 0, 255).astype(np.uint8)


def _white_background(im: Image.Image) -> Image.Image:
    rgba = im.convert("RGBA")
    bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(bg, rgba).convert("RGB")


def to_rgb(im: Image.Image) -> Image.Image:
    """Convert a loaded picture of any mode to 8-bit RGB (alpha composited on white)."""
    mode = im.mode
    if mode == "RGB" and "transparency" not in im.info:
        return im
    if mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        finite = arr[np.isfinite(arr)]
        if finite.size and finite.min() >= 0 and finite.max() <= 1.0:
            arr = arr * 255.0                  # float pictures are usually stored as 0..1
        return Image.fromarray(_gray_to_uint8(arr, False), "L").convert("RGB")
    if mode.startswith("I;16") or mode == "I":
        arr = np.asarray(im)
        return Image.fromarray(_gray_to_uint8(arr, mode.startswith("I;16")), "L").convert("RGB")
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info:
        return _white_background(im)
    try:
        return im.convert("RGB")
    except (ValueError, OSError):
        # Modes without a direct route (e.g. LAB, HSV) go through their bands as gray.
        return im.convert("L").convert("RGB")


def load_rgb(src, draft_size: int | None = None) -> Image.Image:
    """Decode src (path, bytes or PIL image) to an RGB image, EXIF orientation applied.

    draft_size: for JPEGs, let the decoder downscale by 2/4/8 while keeping the short
    side at least draft_size pixels; decoding large photos gets several times faster.
    Raises ImageError(path, reason).
    """
    if isinstance(src, Image.Image):
        label = getattr(src, "filename", "") or "<image>"
        im = src
        owned = False
    else:
        if isinstance(src, (bytes, bytearray, memoryview)):
            label = "<image data>"
        else:
            src = os.fspath(src)
            label = src
        im = _open(src, label)
        owned = True
    try:
        if draft_size and owned and im.format == "JPEG":
            side = int(draft_size)
            # draft keeps both sides >= the requested box, so the short side stays >= draft_size.
            im.draft("RGB" if im.mode == "RGB" else im.mode, (side, side))
        try:
            im.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageError(label, _bomb_reason(exc)) from None
        except MemoryError:
            raise ImageError(label, "not enough memory to open this image") from None
        except Exception:  # OSError "image file is truncated", SyntaxError, EOFError, ...
            raise ImageError(label, DAMAGED) from None
        transposed = im
        try:
            if im.getexif().get(_ORIENTATION, 1) in range(2, 9):
                transposed = ImageOps.exif_transpose(im)
        except Exception:  # a broken EXIF block must not cost the picture itself
            pass
        try:
            out = to_rgb(transposed)
        except Exception:
            raise ImageError(label, DAMAGED) from None
        if out is im:
            out = im.copy()         # never hand back the caller's object or an open file
        return out
    finally:
        if owned:
            im.close()


# -- cheap scan-time checks ------------------------------------------------------------

def _read_tail(path: str, n: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - n))
        return f.read()


def _jpeg_complete(path: str, im: Image.Image) -> bool:
    """A whole JPEG ends with the EOI marker FFD9; if not, a downscaled decode decides."""
    tail = _read_tail(path, 64).rstrip(b"\x00")
    if tail.endswith(b"\xff\xd9"):
        return True
    # Some cameras append data after EOI; a 1/8-scale decode reads all the
    # entropy-coded data (so it fails on truncation) but skips most of the work.
    try:
        im.draft(im.mode if im.mode != "RGB" else "RGB", (1, 1))
        im.load()
    except Exception:
        return False
    return True


def _size_field_ok(path: str, fmt: str) -> bool:
    """Compare the size the header promises with the file's size (BMP, WebP)."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(12)
    if fmt == "WEBP" and len(head) >= 12 and head[:4] == b"RIFF":
        declared = struct.unpack("<I", head[4:8])[0] + 8
        return size >= declared
    if fmt == "BMP" and len(head) >= 6 and head[:2] == b"BM":
        declared = struct.unpack("<I", head[2:6])[0]
        return declared == 0 or size >= declared
    return True


def _tiff_data_present(path: str, im: Image.Image) -> bool:
    """The first page's strips or tiles must lie inside the file."""
    tags = getattr(im, "tag_v2", None)
    if tags is None:
        return True
    size = os.path.getsize(path)
    for off_tag, count_tag in ((273, 279), (324, 325)):   # strips, tiles
        offsets, counts = tags.get(off_tag), tags.get(count_tag)
        if offsets is None or counts is None:
            continue
        if isinstance(offsets, int):
            offsets = (offsets,)
        if isinstance(counts, int):
            counts = (counts,)
        if any(o + c > size for o, c in zip(offsets, counts)):
            return False
    return True


def check_image(path) -> str | None:
    """Why path cannot be used as an image, or None if it looks fine.

    Cheap enough for tens of thousands of files: opens the header, runs Pillow's
    verify (PNG chunk checksums) and checks that JPEG/GIF/WebP/BMP/TIFF files are not
    cut short; it never fully decodes a picture that ends properly.
    """
    path = os.fspath(path)
    try:
        im = _open(path, path)
    except ImageError as exc:
        return exc.reason
    try:
        fmt = im.format
        if fmt == "JPEG":
            if not _jpeg_complete(path, im):
                return DAMAGED
            return None
        if fmt == "GIF":
            if not _read_tail(path, 16).rstrip(b"\x00").endswith(b"\x3b"):
                return DAMAGED
        elif fmt in ("WEBP", "BMP"):
            if not _size_field_ok(path, fmt):
                return DAMAGED
        elif fmt == "TIFF":
            if not _tiff_data_present(path, im):
                return DAMAGED
        try:
            im.verify()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            return _bomb_reason(exc)
        except Exception:
            return DAMAGED
        return None
    except OSError:
        return DAMAGED
    finally:
        im.close()


# -- walking folders -------------------------------------------------------------------

def iter_files(folder, recursive: bool = True) -> Iterator[str]:
    """Every non-hidden file under folder, sorted by name, as paths under folder.

    Follows symbolic links but enters each real folder once, so a link back to a
    parent cannot loop. Folders that cannot be read are skipped silently.
    """
    folder = os.fspath(folder)
    seen: set[str] = set()

    def walk(d: str) -> Iterator[str]:
        try:
            real = os.path.realpath(d)
        except OSError:
            return
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
                is_dir = e.is_dir()          # follows symlinks
                is_file = not is_dir and e.is_file()
            except OSError:
                continue
            if is_dir:
                if recursive:
                    yield from walk(e.path)
            elif is_file:
                yield e.path

    yield from walk(folder)


def iter_image_files(folder, recursive: bool = True) -> Iterator[str]:
    """Files under folder whose names say they are images (see iter_files)."""
    for p in iter_files(folder, recursive):
        if is_image_name(p):
            yield p


# -- metadata --------------------------------------------------------------------------

_EXIF_IFD = 0x8769
_DATETIME_ORIGINAL = 36867
_DATETIME = 306


def exif_datetime(path) -> str | None:
    """When the photo was taken, as ISO "YYYY-MM-DDTHH:MM:SS", from EXIF; else None."""
    try:
        with Image.open(os.fspath(path)) as im:
            exif = im.getexif()
            candidates = []
            try:
                candidates.append(exif.get_ifd(_EXIF_IFD).get(_DATETIME_ORIGINAL))
            except Exception:
                pass
            candidates.append(exif.get(_DATETIME))
    except Exception:
        return None
    for value in candidates:
        if isinstance(value, bytes):
            value = value.decode("ascii", "replace")
        if not isinstance(value, str):
            continue
        try:
            return datetime.strptime(value.strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S").isoformat()
        except ValueError:
            continue
    return None


__all__ = [
    "IMAGE_EXTENSIONS", "is_image_name", "load_rgb", "to_rgb", "check_image",
    "iter_files", "iter_image_files", "exif_datetime",
]
