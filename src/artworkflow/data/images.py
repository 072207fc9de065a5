"""Image I/O. Every stage image becomes a float (C,H,W) tensor in [-1,1] whatever its file mode, and
every unreadable file becomes one ``ImageError`` line that names the file and says how to fix it."""
from __future__ import annotations

import os
import struct
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from ..errors import ImageError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
MAX_SIDE = 4096

_READ_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, Image.DecompressionBombError,
                Image.DecompressionBombWarning)
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_WITH_ALPHA = ("RGBA", "RGBa", "LA", "La", "PA")
_TO_RGB = ("RGB", "RGBX", "CMYK", "YCbCr", "P", "1", "L")
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _read_failure(path: Path, err: BaseException) -> ImageError:
    """Turn a Pillow or OS exception into a message that tells the user what to do with the file."""
    if isinstance(err, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        return ImageError(f"{path}: image has too many pixels to decode safely (a possible decompression "
                          "bomb); downscale it")
    if isinstance(err, IsADirectoryError):
        return ImageError(f"{path}: is a folder, not an image file; move it out of the stage folder")
    if isinstance(err, PermissionError):
        return ImageError(f"{path}: permission denied; make the file readable")
    if isinstance(err, UnidentifiedImageError):
        return ImageError(f"{path}: not an image file Pillow can read; save it as PNG, JPEG or WebP")
    detail = _one_line(err) or err.__class__.__name__
    if isinstance(err, EOFError) or "truncated" in detail.lower():
        return ImageError(f"{path}: file is truncated; re-export or copy it again")
    return ImageError(f"{path}: cannot be read as an image ({detail}); save it as PNG, JPEG or WebP")


def _open_checked(path: Path, max_side: int) -> Image.Image:
    """Open lazily and reject empty or oversized files before any pixel data is decoded."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ImageError(f"{path}: file not found; check the path") from None
    except OSError as e:
        raise _read_failure(path, e) from None
    if size == 0:
        raise ImageError(f"{path}: empty file (0 bytes); re-export the image or remove it")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)
    except _READ_ERRORS as e:
        raise _read_failure(path, e) from None
    w, h = img.size
    if max(w, h) > max_side:
        img.close()
        raise ImageError(f"{path}: image is {w}x{h}, larger than max_side={max_side}; "
                         f"downscale it (the loader resizes anyway) or raise max_side")
    return img


def _decode(img: Image.Image, path: Path) -> None:
    try:
        img.load()
    except _READ_ERRORS as e:
        raise _read_failure(path, e) from None


def read_size(path: str | os.PathLike, max_side: int = MAX_SIDE, decode: bool = False) -> tuple[int, int]:
    """(height, width) from the file header, with the same checks ``load_image`` applies first;
    ``decode=True`` also decodes the pixels, the only way to find a truncated or corrupt body."""
    path = Path(path)
    with _open_checked(path, max_side) as img:
        if decode:
            _decode(img, path)
        w, h = img.size
    return h, w


_GREY_MODES = ("1", "L", "LA", "La", "I", "F", *_SIXTEEN_BIT)


def image_channels(path: str | os.PathLike, max_side: int = MAX_SIDE) -> int:
    """1 for a grey file, 3 for a colour one (palette images count as colour), from the header alone."""
    path = Path(path)
    with _open_checked(path, max_side) as img:
        return 1 if img.mode in _GREY_MODES else 3


def _sixteen_bit(img: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    values = np.asarray(img).astype(np.float32)
    alpha = None
    transparent = img.info.get("transparency")
    if isinstance(transparent, int):
        alpha = (values != transparent).astype(np.float32)
    return np.clip(values / 65535.0, 0.0, 1.0), alpha


def _pixels(img: Image.Image, path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Colour as (H,W) or (H,W,3) floats in [0,1] plus an optional (H,W) alpha, for any supported mode."""
    mode = img.mode
    if mode in _SIXTEEN_BIT:
        return _sixteen_bit(img)
    if mode == "La":
        img, mode = img.convert("LA"), "LA"
    if mode in _WITH_ALPHA or (mode in ("L", "RGB", "P") and "transparency" in img.info):
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float32) / 255.0
        return rgba[..., :3], rgba[..., 3]
    if mode == "L":
        return np.asarray(img, dtype=np.float32) / 255.0, None
    if mode in _TO_RGB:
        return np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0, None
    raise ImageError(f"{path}: unsupported image mode '{mode}'; save it as an 8- or 16-bit RGB or grey PNG")


def _to_channels(colour: np.ndarray, channels: int) -> np.ndarray:
    if channels == 1:
        return colour if colour.ndim == 2 else colour @ _LUMA
    return np.repeat(colour[..., None], 3, axis=2) if colour.ndim == 2 else colour


def load_image(path: str | os.PathLike, channels: int, max_side: int = MAX_SIDE) -> torch.Tensor:
    """Read any common image file as float32 (channels,H,W) in [-1,1]; transparency is composited on
    white because stage images are drawn on paper."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    path = Path(path)
    with _open_checked(path, max_side) as img:
        _decode(img, path)
        try:
            colour, alpha = _pixels(img, path)
        except _READ_ERRORS as e:
            raise _read_failure(path, e) from None
    colour = _to_channels(colour, channels)
    if alpha is not None:
        a = alpha if colour.ndim == 2 else alpha[..., None]
        colour = colour * a + (1.0 - a)
    if colour.ndim == 2:
        colour = colour[..., None]
    t = torch.from_numpy(np.ascontiguousarray(colour.transpose(2, 0, 1), dtype=np.float32))
    return t * 2.0 - 1.0


def to_pil(t: torch.Tensor) -> Image.Image:
    """A (C,H,W) tensor in [-1,1] with 1 or 3 channels as an 8-bit L or RGB image."""
    if t.dim() != 3 or t.shape[0] not in (1, 3):
        raise ValueError(f"expected a (1 or 3, H, W) tensor, got shape {tuple(t.shape)}")
    arr = ((t.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    arr = arr.permute(1, 2, 0).numpy()
    return Image.fromarray(arr[..., 0], "L") if arr.shape[2] == 1 else Image.fromarray(arr, "RGB")


def save_image(t: torch.Tensor | Image.Image, path: str | os.PathLike) -> Path:
    """Write a PNG through a temporary file in the same folder so a crash never leaves half an image."""
    path = Path(path)
    img = t if isinstance(t, Image.Image) else to_pil(t)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        img.save(tmp, format="PNG")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def resize(t: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Bilinear resize with antialiasing (so downscaled line art keeps its strokes) of (C,H,W) or (B,C,H,W)."""
    hw = (size, size) if isinstance(size, int) else tuple(size)
    if tuple(t.shape[-2:]) == hw:
        return t
    batched = t.dim() == 4
    x = t if batched else t.unsqueeze(0)
    out = F.interpolate(x.float(), size=hw, mode="bilinear", antialias=True, align_corners=False)
    return out if batched else out.squeeze(0)


def make_grid(rows: list[list[torch.Tensor]], pad: int = 2, pad_value: float = 1.0) -> torch.Tensor:
    """Tile (C,H,W) images into one RGB image, one list per row; short rows are padded so stages of
    different channel counts and items with fewer stages can share one preview."""
    images = [im for row in rows for im in row]
    if not images:
        raise ValueError("make_grid needs at least one image")
    cell_h = max(im.shape[-2] for im in images)
    cell_w = max(im.shape[-1] for im in images)
    n_cols = max(len(row) for row in rows)
    grid = torch.full((3, len(rows) * (cell_h + pad) + pad, n_cols * (cell_w + pad) + pad), float(pad_value))
    for r, row in enumerate(rows):
        for c, im in enumerate(row):
            if im.dim() != 3 or im.shape[0] not in (1, 3):
                raise ValueError(f"grid cell ({r},{c}) must be (1 or 3, H, W), got {tuple(im.shape)}")
            top, left = pad + r * (cell_h + pad), pad + c * (cell_w + pad)
            h, w = im.shape[-2:]
            grid[:, top:top + h, left:left + w] = im.detach().float().cpu().expand(3, h, w)
    return grid
