"""core.data.imageio: every awkward picture decodes to RGB; unusable files give a reason."""
from __future__ import annotations

import io
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from core.data import imageio
from core.errors import ImageError
from core.data.imageio import check_image, exif_datetime, is_image_name, iter_image_files, load_rgb

W, H = 40, 24       # not square, so a wrong rotation shows in the size


def _gradient(w=W, h=H) -> np.ndarray:
    x = np.linspace(0, 255, w, dtype=np.float64)[None, :].repeat(h, 0)
    return np.stack([x, x[:, ::-1], np.full_like(x, 128)], axis=2).astype(np.uint8)


def _rgb(w=W, h=H) -> Image.Image:
    return Image.fromarray(_gradient(w, h), "RGB")


def _save(im, path, fmt=None, **kw):
    im.save(path, fmt, **kw)
    return str(path)


# -- every kind of picture -------------------------------------------------------------

def _palette_transparent(p):
    im = _rgb().convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    im.info["transparency"] = 0
    return _save(im, p / "pt.png", transparency=0)


def _rgba_clear(p):
    a = np.zeros((H, W, 4), np.uint8)          # fully transparent black -> white after compositing
    return _save(Image.fromarray(a, "RGBA"), p / "rgba.png")


AWKWARD = {
    "gray": lambda p: _save(_rgb().convert("L"), p / "g.png"),
    "bilevel": lambda p: _save(_rgb().convert("1"), p / "b.png"),
    "palette": lambda p: _save(_rgb().convert("P", palette=Image.Palette.ADAPTIVE), p / "p.png"),
    "palette_transparency": _palette_transparent,
    "rgba": _rgba_clear,
    "la": lambda p: _save(_rgb().convert("LA"), p / "la.png"),
    "cmyk_jpeg": lambda p: _save(_rgb().convert("CMYK"), p / "c.jpg", "JPEG"),
    "png16": lambda p: _save(Image.fromarray((np.arange(W * H).reshape(H, W) * 60).astype(np.uint16)),
                             p / "16.png"),
    "int32_tiff": lambda p: _save(Image.fromarray(np.arange(W * H, dtype=np.int32).reshape(H, W) * 1000),
                                  p / "i.tif"),
    "float_tiff": lambda p: _save(Image.fromarray(np.linspace(0, 1, W * H, dtype=np.float32).reshape(H, W)),
                                  p / "f.tif"),
    "upper_jpg": lambda p: _save(_rgb(), p / "UPPER.JPG", "JPEG"),
    "webp": lambda p: _save(_rgb(), p / "w.webp"),
    "tif": lambda p: _save(_rgb(), p / "t.tif"),
    "tiff_lzw": lambda p: _save(_rgb(), p / "t.tiff", compression="tiff_lzw"),
    "gif": lambda p: _save(_rgb().convert("P"), p / "a.gif"),
    "bmp": lambda p: _save(_rgb(), p / "b.bmp"),
    "jfif": lambda p: _save(_rgb(), p / "web.jfif", "JPEG"),
}


@pytest.mark.parametrize("kind", sorted(AWKWARD))
def test_every_kind_loads_as_rgb_of_the_right_size(tmp_path, kind):
    path = AWKWARD[kind](tmp_path)
    assert is_image_name(path)
    assert check_image(path) is None
    im = load_rgb(path)
    assert im.mode == "RGB"
    assert im.size == (W, H)
    arr = np.asarray(im)
    assert arr.dtype == np.uint8
    if kind != "rgba":
        assert arr.max() > arr.min(), "the picture came out flat"


def test_transparency_is_composited_on_white(tmp_path):
    arr = np.asarray(load_rgb(_rgba_clear(tmp_path)))
    assert (arr == 255).all()
    pt = np.asarray(load_rgb(_palette_transparent(tmp_path)))
    src = Image.open(tmp_path / "pt.png")
    clear = np.asarray(src) == 0
    assert clear.any() and (pt[clear] == 255).all()


def test_sixteen_bit_and_float_are_scaled_to_eight_bit(tmp_path):
    a16 = np.full((H, W), 128 * 257, np.uint16)       # mid-grey in 16 bits
    a16[:, : W // 2] = 0
    arr = np.asarray(load_rgb(_save(Image.fromarray(a16), tmp_path / "x.png")))
    assert arr[:, 0].max() == 0 and (arr[:, -1] == 128).all()
    f = np.zeros((H, W), np.float32)
    f[:, W // 2:] = 0.5                                 # mid-grey as a 0..1 float
    arr = np.asarray(load_rgb(_save(Image.fromarray(f), tmp_path / "f.tif")))
    assert arr[:, 0].max() == 0 and (np.abs(arr[:, -1].astype(int) - 128) <= 1).all()


def test_exif_orientation_is_applied(tmp_path):
    im = _rgb()
    exif = Image.Exif()
    exif[0x0112] = 6                     # rotate 90 degrees clockwise to display
    p = _save(im, tmp_path / "rot.jpg", "JPEG", exif=exif.tobytes())
    out = load_rgb(p)
    assert out.size == (H, W)
    # left column of the stored picture is dark in red; after a clockwise turn it is the top row
    arr = np.asarray(out).astype(int)
    assert arr[0, :, 0].mean() < arr[-1, :, 0].mean()


def test_first_frame_of_animated_gif(tmp_path):
    frames = [Image.new("RGB", (W, H), c) for c in ((255, 0, 0), (0, 0, 255))]
    p = str(tmp_path / "anim.gif")
    frames[0].save(p, save_all=True, append_images=frames[1:], duration=100, loop=0)
    arr = np.asarray(load_rgb(p))
    assert arr[..., 0].mean() > 200 and arr[..., 2].mean() < 50


def test_bytes_and_pil_sources(tmp_path):
    buf = io.BytesIO()
    _rgb().save(buf, "PNG")
    assert load_rgb(buf.getvalue()).size == (W, H)
    src = _rgb().convert("LA")
    out = load_rgb(src)
    assert out.mode == "RGB" and src.mode == "LA"
    rgb = _rgb()
    assert load_rgb(rgb) is not rgb


def test_draft_size_keeps_short_side(tmp_path):
    p = _save(_rgb(400, 240), tmp_path / "big.jpg", "JPEG")
    out = load_rgb(p, draft_size=50)
    assert min(out.size) >= 50
    assert out.size[0] < 400                 # the JPEG decoder scaled it down
    assert load_rgb(p, draft_size=1000).size == (400, 240)


# -- unusable files ---------------------------------------------------------------------

def _jpeg_bytes(w=64, h=48) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


@pytest.mark.parametrize("name,data,reason", [
    ("empty.jpg", b"", imageio.EMPTY),
    ("truncated.jpg", _jpeg_bytes()[: len(_jpeg_bytes()) // 2], imageio.DAMAGED),
    ("notes.jpg", b"shopping list: seeds, more seeds\n", imageio.NOT_IMAGE),
])
def test_unusable_files_have_reasons(tmp_path, name, data, reason):
    p = tmp_path / name
    p.write_bytes(data)
    assert check_image(p) == reason
    with pytest.raises(ImageError) as e:
        load_rgb(p)
    assert e.value.reason == reason and e.value.path == str(p)


def test_truncated_png_is_caught_by_check(tmp_path):
    p = tmp_path / "cut.png"
    full = tmp_path / "full.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (60, 60, 3), dtype=np.uint8)).save(full)
    data = full.read_bytes()
    p.write_bytes(data[: len(data) * 2 // 3])
    assert check_image(full) is None
    assert check_image(p) == imageio.DAMAGED
    with pytest.raises(ImageError):
        load_rgb(p)


def test_jpeg_with_bytes_after_the_end_marker_is_fine(tmp_path):
    p = tmp_path / "trailer.jpg"
    p.write_bytes(_jpeg_bytes() + b"camera maker notes")
    assert check_image(p) is None
    assert load_rgb(p).size == (64, 48)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("limit", [100, 700])   # W*H = 960: Pillow raises above 2 x limit, warns above it
def test_decompression_bomb_is_refused(tmp_path, monkeypatch, limit):
    p = _save(_rgb(), tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
    reason = check_image(p)
    assert reason is not None and "too large" in reason and "smaller" in reason
    assert "decompression" not in reason and "Pillow" not in reason      # words a person can act on
    with pytest.raises(ImageError) as e:
        load_rgb(p)
    assert e.value.reason == reason


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ImageError) as e:
        load_rgb(tmp_path / "nope.jpg")
    assert e.value.reason == imageio.NOT_FOUND
    assert check_image(tmp_path / "nope.jpg") == imageio.NOT_FOUND
    d = tmp_path / "dir.jpg"
    d.mkdir()
    assert check_image(d) is not None


# -- names and walking folders ----------------------------------------------------------

def test_is_image_name():
    for ok in ("a.jpg", "B.JPEG", "c.Png", "d.gif", "e.BMP", "f.tif", "g.TIFF", "h.webp", "x/y/z.jpg"):
        assert is_image_name(ok), ok
    for bad in (".hidden.jpg", "notes.txt", ".DS_Store", "photo.heic", "jpg", "x/.y.png", ""):
        assert not is_image_name(bad), bad


def test_iter_image_files_sorted_skips_hidden_and_recurses(tmp_path):
    for rel in ("b.jpg", "a.png", "sub/c.JPG", "sub/deeper/d.webp", ".hidden.jpg",
                ".secret/e.jpg", "notes.txt", "sub/.DS_Store"):
        f = tmp_path / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"x")
    got = [os.path.relpath(p, tmp_path) for p in iter_image_files(tmp_path)]
    assert got == ["a.png", "b.jpg", os.path.join("sub", "c.JPG"), os.path.join("sub", "deeper", "d.webp")]
    flat = [os.path.relpath(p, tmp_path) for p in iter_image_files(tmp_path, recursive=False)]
    assert flat == ["a.png", "b.jpg"]


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symbolic links here")
def test_symlink_cycle_terminates(tmp_path):
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    (sub / "x.png").write_bytes(b"x")
    try:
        os.symlink(tmp_path / "a", sub / "loop")          # a/b/loop -> a
        os.symlink(tmp_path, tmp_path / "a" / "up")      # a/up -> root
    except OSError:
        pytest.skip("cannot make symbolic links here")
    got = list(iter_image_files(tmp_path))
    assert [os.path.basename(p) for p in got] == ["x.png"]


@pytest.mark.skipif(not hasattr(os, "chmod") or os.name == "nt" or os.geteuid() == 0,
                    reason="needs a non-root POSIX user to deny reading")
def test_unreadable_folder_is_skipped(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "x.png").write_bytes(b"x")
    (tmp_path / "y.png").write_bytes(b"x")
    locked.chmod(0)
    try:
        assert [os.path.basename(p) for p in iter_image_files(tmp_path)] == ["y.png"]
    finally:
        locked.chmod(0o755)


# -- metadata ---------------------------------------------------------------------------

def test_exif_datetime(tmp_path):
    exif = Image.Exif()
    exif.get_ifd(0x8769)[36867] = "2024:05:17 06:42:10"
    exif[306] = "2024:06:01 12:00:00"
    p = _save(_rgb(), tmp_path / "cam.jpg", "JPEG", exif=exif.tobytes())
    assert exif_datetime(p) == "2024-05-17T06:42:10"
    only_dt = Image.Exif()
    only_dt[306] = "2023:01:02 03:04:05"
    p2 = _save(_rgb(), tmp_path / "dt.jpg", "JPEG", exif=only_dt.tobytes())
    assert exif_datetime(p2) == "2023-01-02T03:04:05"
    assert exif_datetime(_save(_rgb(), tmp_path / "plain.png")) is None
    bad = Image.Exif()
    bad[306] = "0000:00:00 00:00:00"
    assert exif_datetime(_save(_rgb(), tmp_path / "bad.jpg", "JPEG", exif=bad.tobytes())) is None
    assert exif_datetime(tmp_path / "missing.jpg") is None


def test_core_modules_do_not_import_qt():
    code = ("import sys; import core.data.imageio, core.data.dataset, core.data.sample_data; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6')]; "
            "sys.exit(1 if bad else 0)")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    r = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
