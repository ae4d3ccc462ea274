"""Small real images for the tests to send (a browser must be able to decode them)."""

import struct
import zlib


def png(width: int = 96, height: int = 64, top: tuple[int, int, int] = (37, 211, 102),
        bottom: tuple[int, int, int] = (7, 94, 84)) -> bytes:  # fmt: skip
    """An RGB PNG, a vertical gradient from ``top`` to ``bottom``."""
    rows = []
    for y in range(height):
        t = y / max(height - 1, 1)
        pixel = bytes(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
        rows.append(b"\x00" + pixel * width)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows)))
        + chunk(b"IEND", b"")
    )
