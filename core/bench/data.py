"""The benchmark's data: photo-sized JPEGs whose decoding costs what a camera's photos cost."""
from __future__ import annotations

from pathlib import Path

from core.errors import FledgeError, UsageError


def write_bench_data(dest: str, images: int, width: int = 640, height: int = 480,
                     classes: int = 4, val_share: float = 0.2, seed: int = 0) -> str:
    """Photo-sized JPEGs in DEST/train|val/<class>/: textured backgrounds with a class-
    specific shape, so decoding costs what a camera's photos cost and accuracy means
    something."""
    import numpy as np
    from PIL import Image, ImageDraw

    if images < 2 * classes:
        raise UsageError(f"--images {images}: the benchmark needs at least {2 * classes}, one photo of each class "
                         "for training and one for validation.")
    root = Path(dest)
    marker = root / ".fledge-bench"
    if marker.is_file() and marker.read_text().strip() == f"{images} {width} {height} {classes}":
        return str(root)
    if root.exists() and any(root.iterdir()) and not marker.is_file():
        raise FledgeError(f"{root} is not empty; give an empty or new folder for the benchmark data.")
    rng = np.random.default_rng(seed)
    names = [f"class_{i}" for i in range(classes)]
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    for i in range(images):
        label = i % classes
        split = "val" if (i // classes) % int(round(1 / val_share)) == 0 else "train"
        folder = root / split / names[label]
        folder.mkdir(parents=True, exist_ok=True)
        c0, c1 = rng.uniform(40, 215, 3), rng.uniform(40, 215, 3)
        t = (xx / width * rng.uniform(-1, 1) + yy / height * rng.uniform(-1, 1)) % 1.0
        img = c0 * t[..., None] + c1 * (1 - t[..., None])
        img += rng.normal(0, 18, (height, width, 1))           # sensor noise: real JPEG cost
        pil = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(pil)
        cx, cy = rng.uniform(0.3, 0.7) * width, rng.uniform(0.3, 0.7) * height
        r = rng.uniform(0.12, 0.3) * height
        colour = tuple(int(v) for v in rng.uniform(0, 255, 3))
        box = [cx - r, cy - r, cx + r, cy + r]
        if label == 0:
            draw.ellipse(box, fill=colour)
        elif label == 1:
            draw.rectangle(box, fill=colour)
        elif label == 2:
            draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=colour)
        else:
            draw.line([(cx - r, cy - r), (cx + r, cy + r)], fill=colour, width=int(r / 3))
            draw.line([(cx - r, cy + r), (cx + r, cy - r)], fill=colour, width=int(r / 3))
        pil.save(folder / f"IMG_{i:05d}.jpg", quality=90)
    marker.write_text(f"{images} {width} {height} {classes}")
    return str(root)
