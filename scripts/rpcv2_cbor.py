"""Smithy RPC v2 CBOR for the local stack: the wire protocol of CloudWatch in current AWS SDKs.

The emulator's CloudWatch speaks the Query and JSON protocols only. scripts/moto_server.py turns a
CBOR request into the same call in AWS JSON 1.0 (which CloudWatch also accepts) and the answer
back into CBOR; scripts/lambda_router.py names the operation of a CBOR request for its fault rules
and answers injected faults in CBOR. RFC 8949 (the subset Smithy uses) and
https://smithy.io/2.0/additional-specs/protocols/smithy-rpc-v2.html.
"""
import base64
import datetime
import re
import struct

CONTENT_TYPE = "application/cbor"
# POST /service/{service shape name}/operation/{operation name}
PATH = re.compile(r"^/service/([^/]+)/operation/([^/?]+)$")


class CborError(ValueError):
    pass


def operation_of(path):
    """(service, operation) of an RPC v2 request path, or None."""
    match = PATH.match(path.split("?", 1)[0])
    return (match.group(1), match.group(2)) if match else None


# ---- decoding ---------------------------------------------------------------------------------

_BREAK = object()


def decode(data):
    """One CBOR data item as Python: ints, floats, str, bytes, lists, dicts; epoch-seconds
    timestamps (tag 1) as `datetime` in UTC."""
    if not data:
        return {}
    value, offset = _item(memoryview(data), 0)
    if offset != len(data):
        raise CborError(f"{len(data) - offset} bytes after the data item")
    return value


def _argument(data, offset, info):
    if info < 24:
        return info, offset
    sizes = {24: 1, 25: 2, 26: 4, 27: 8}
    if info not in sizes:
        raise CborError(f"unsupported additional information {info}")
    size = sizes[info]
    if offset + size > len(data):
        raise CborError("truncated")
    return int.from_bytes(data[offset : offset + size], "big"), offset + size


def _item(data, offset):
    if offset >= len(data):
        raise CborError("truncated")
    initial = data[offset]
    offset += 1
    major, info = initial >> 5, initial & 0x1F
    if major == 7:
        if info == 20:
            return False, offset
        if info == 21:
            return True, offset
        if info in (22, 23):
            return None, offset
        if info == 25:
            return _half(bytes(data[offset : offset + 2])), offset + 2
        if info == 26:
            return struct.unpack(">f", data[offset : offset + 4])[0], offset + 4
        if info == 27:
            return struct.unpack(">d", data[offset : offset + 8])[0], offset + 8
        if info == 31:
            return _BREAK, offset
        raise CborError(f"unsupported simple value {info}")
    if info == 31:  # indefinite length
        if major in (2, 3):
            chunks = []
            while True:
                chunk, offset = _item(data, offset)
                if chunk is _BREAK:
                    break
                chunks.append(chunk)
            return (b"" if major == 2 else "").join(chunks), offset
        if major == 4:
            items = []
            while True:
                item, offset = _item(data, offset)
                if item is _BREAK:
                    return items, offset
                items.append(item)
        if major == 5:
            mapping = {}
            while True:
                key, offset = _item(data, offset)
                if key is _BREAK:
                    return mapping, offset
                mapping[key], offset = _item(data, offset)
        raise CborError(f"indefinite length for major type {major}")
    argument, offset = _argument(data, offset, info)
    if major == 0:
        return argument, offset
    if major == 1:
        return -1 - argument, offset
    if major in (2, 3):
        if offset + argument > len(data):
            raise CborError("truncated string")
        raw = bytes(data[offset : offset + argument])
        return (raw if major == 2 else raw.decode("utf-8")), offset + argument
    if major == 4:
        items = []
        for _ in range(argument):
            item, offset = _item(data, offset)
            items.append(item)
        return items, offset
    if major == 5:
        mapping = {}
        for _ in range(argument):
            key, offset = _item(data, offset)
            mapping[key], offset = _item(data, offset)
        return mapping, offset
    # major 6: a tag; Smithy uses tag 1 (epoch seconds) for timestamps.
    value, offset = _item(data, offset)
    if argument == 1:
        return datetime.datetime.fromtimestamp(value, tz=datetime.timezone.utc), offset
    return value, offset


def _half(raw):
    bits = int.from_bytes(raw, "big")
    sign = -1.0 if bits & 0x8000 else 1.0
    exponent, fraction = (bits >> 10) & 0x1F, bits & 0x3FF
    if exponent == 0:
        return sign * fraction * 2.0**-24
    if exponent == 31:
        return sign * float("inf") if fraction == 0 else float("nan")
    return sign * (1 + fraction / 1024.0) * 2.0 ** (exponent - 15)


# ---- encoding ---------------------------------------------------------------------------------


def _head(major, argument):
    if argument < 24:
        return bytes([major << 5 | argument])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if argument < 1 << (8 * size):
            return bytes([major << 5 | info]) + argument.to_bytes(size, "big")
    raise CborError("integer too large")


def encode(value, shape=None):
    """`value` as CBOR. With a botocore shape, members are encoded as the shape says (timestamps
    as tag 1 epoch seconds, doubles as floats, blobs as bytes); without one, by Python type."""
    out = bytearray()
    _encode(out, value, shape)
    return bytes(out)


def _encode(out, value, shape):
    kind = shape.type_name if shape is not None else None
    if value is None:
        out += b"\xf6"
    elif kind == "timestamp":
        out += b"\xc1"
        _encode(out, _epoch_seconds(value), None)
    elif kind == "blob":
        raw = base64.b64decode(value) if isinstance(value, str) else bytes(value)
        out += _head(2, len(raw)) + raw
    elif kind in ("double", "float"):
        out += b"\xfb" + struct.pack(">d", float(value))
    elif kind == "structure" and isinstance(value, dict):
        members = {k: v for k, v in value.items() if v is not None}
        out += _head(5, len(members))
        for key, item in members.items():
            _encode(out, key, None)
            _encode(out, item, shape.members.get(key))
    elif kind == "list" and isinstance(value, list):
        out += _head(4, len(value))
        for item in value:
            _encode(out, item, shape.member)
    elif kind == "map" and isinstance(value, dict):
        out += _head(5, len(value))
        for key, item in value.items():
            _encode(out, key, None)
            _encode(out, item, shape.value)
    elif isinstance(value, bool):
        out += b"\xf5" if value else b"\xf4"
    elif isinstance(value, int):
        out += _head(0, value) if value >= 0 else _head(1, -1 - value)
    elif isinstance(value, float):
        out += b"\xfb" + struct.pack(">d", value)
    elif isinstance(value, str):
        raw = value.encode("utf-8")
        out += _head(3, len(raw)) + raw
    elif isinstance(value, (bytes, bytearray)):
        out += _head(2, len(value)) + bytes(value)
    elif isinstance(value, datetime.datetime):
        out += b"\xc1"
        _encode(out, _epoch_seconds(value), None)
    elif isinstance(value, list):
        out += _head(4, len(value))
        for item in value:
            _encode(out, item, None)
    elif isinstance(value, dict):
        out += _head(5, len(value))
        for key, item in value.items():
            _encode(out, key, None)
            _encode(out, item, None)
    else:
        raise CborError(f"cannot encode {type(value).__name__}")


def _epoch_seconds(value):
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return value.timestamp()
    if isinstance(value, str):
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return float(value)


def to_json_ready(value):
    """A decoded request as AWS JSON 1.0 has it: timestamps as epoch seconds, blobs in base64."""
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, list):
        return [to_json_ready(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json_ready(v) for k, v in value.items()}
    return value


def error_body(code, message):
    """An RPC v2 CBOR error document."""
    return encode({"__type": code, "message": message})
