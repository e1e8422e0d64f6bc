"""Compression of stored raw mail (zstd: about 4x faster than zlib at the same ratio)."""

from __future__ import annotations

import zstandard

_LEVEL = 1
_compressor = zstandard.ZstdCompressor(level=_LEVEL)
_decompressor = zstandard.ZstdDecompressor()


def compress(data: bytes) -> bytes:
    """zstd frame of ``data`` (the frame records its size, so any zstd tool can read it)."""
    return _compressor.compress(data)


def decompress(blob: bytes) -> bytes:
    """The bytes inside a zstd frame written by :func:`compress`."""
    return _decompressor.decompress(blob)
