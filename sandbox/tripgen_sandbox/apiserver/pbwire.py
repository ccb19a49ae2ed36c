"""Protocol Buffers wire format, encoding side: the handful of primitives every encoder in the
sandbox (Kubernetes objects, the gnostic OpenAPI v2 document) builds its messages from. Decoding
lives in protobuf.fields()."""

from __future__ import annotations

import struct


def varint(n: int) -> bytes:
    if n < 0:
        n += 1 << 64  # int64 / int32 negatives are ten-byte varints
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def key(num: int, wire_type: int) -> bytes:
    return varint(num << 3 | wire_type)


def f_varint(num: int, value: int) -> bytes:
    return key(num, 0) + varint(int(value))


def f_bytes(num: int, value: bytes) -> bytes:
    return key(num, 2) + varint(len(value)) + value


def f_string(num: int, value: str) -> bytes:
    return f_bytes(num, value.encode("utf-8"))


def f_double(num: int, value: float) -> bytes:
    return key(num, 1) + struct.pack("<d", float(value))
