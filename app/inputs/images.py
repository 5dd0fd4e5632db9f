"""An input image: size cap, a real decode with Pillow, stored as PNG."""

import io
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from app.errors import InvalidRequest, PayloadTooLarge


# What Pillow may open here; anything else (PSD, EPS, ...) is refused before decoding.
FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP")


@dataclass(frozen=True)
class InputImage:
    png: bytes
    width: int
    height: int


def check_image(data: bytes, param: str, max_bytes: int, max_pixels: int) -> InputImage:
    """Decode `data` fully (a truncated or fake image fails here, not in the worker)."""
    if len(data) > max_bytes:
        raise PayloadTooLarge(
            f"{param}: the image is {len(data)} bytes; at most {max_bytes} are accepted",
            param=param,
            code="image_too_large",
        )
    if not data:
        raise InvalidRequest(f"{param}: the image is empty", param=param, code="invalid_image")
    try:
        with Image.open(io.BytesIO(data), formats=FORMATS) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise PayloadTooLarge(
                    f"{param}: the image is {width}x{height} pixels; at most {max_pixels} pixels are accepted",
                    param=param,
                    code="image_too_large",
                )
            image.load()
            if image.format == "PNG":
                # Decoded in full, so it is whole: keep the caller's bytes (re-encoding costs more
                # than the rest of the request).
                return InputImage(data, width, height)
            rgb = image.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise InvalidRequest(
            f"{param}: not a decodable image ({', '.join(FORMATS)} are accepted): {exc}",
            param=param,
            code="invalid_image",
        ) from None
    out = io.BytesIO()
    rgb.save(out, format="PNG")
    return InputImage(out.getvalue(), width, height)
