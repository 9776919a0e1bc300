"""Plain-data wire codec between the trusted parent and the untrusted worker.

No pickle: the parent decodes only what this module knows how to build, from bytes an
attacker may have written. Plain data is: exact ``np.ndarray`` (numeric or bool dtypes),
NumPy numeric scalars, ``None``, ``bool``, ``int``, ``float``, ``str``, ``bytes`` and
lists/tuples/dicts of these. Subclasses are refused (a ``float`` subclass with a lying
``__eq__`` is not a float), and so is anything else.

Handle references (``Ref``) travel in the same format so results can stay in the worker.
"""

from __future__ import annotations

import io
import pickle
import struct
from typing import Any

import numpy as np

MAX_MESSAGE = 256 * 1024 * 1024  # one message, bytes
MAX_DEPTH = 32
MAX_ITEMS = 1_000_000
MAX_INT_DIGITS = 4000
# One string from the worker, in UTF-8 bytes: longer ones are cut here, before the parent
# builds a str of them (a 40 MB exception type name must not become a 40 MB result).
MAX_TEXT_BYTES = 64 * 1024
TRUNCATED = " ... (truncated)"

# Native little-endian numeric dtypes only; object, string, void and datetime never cross.
_DTYPES = {
    np.dtype(t).str: np.dtype(t)
    for t in (
        np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
        np.uint64, np.float16, np.float32, np.float64, np.complex64, np.complex128,
    )
}
_SCALAR_TYPES = {np.dtype(d).type for d in _DTYPES.values()}
_U8, _U32, _U64 = struct.Struct("<B"), struct.Struct("<I"), struct.Struct("<Q")
_I64, _F64 = struct.Struct("<q"), struct.Struct("<d")
_SHAPES = [struct.Struct(f"<{n}Q") for n in range(33)]  # an array's dimensions, by ndim


class WireError(ValueError):
    """Bytes that are not a valid message, or a value that is not plain data."""


class Ref:
    """A reference to an object kept in the worker: a handle id and an access path.

    ``path`` is a tuple of ``("attr", name)`` / ``("item", key)`` steps applied in order.
    A plain class with slots, not a dataclass: thousands are built per submission on each
    side (a frozen dataclass's ``__init__`` costs three times as much).
    """

    __slots__ = ("handle", "path")

    def __init__(self, handle: int, path: tuple = ()) -> None:
        self.handle, self.path = handle, path

    def __eq__(self, other: object) -> bool:
        return type(other) is Ref and self.handle == other.handle and self.path == other.path

    def __hash__(self) -> int:
        return hash((self.handle, self.path))

    def __repr__(self) -> str:
        return f"Ref(handle={self.handle!r}, path={self.path!r})"

    def __reduce__(self) -> tuple:
        # Requests carry thousands of these: pickled as a constructor call.
        return Ref, (self.handle, self.path)


def describe_type(value: Any) -> str:
    """A short, safe description of a value's type for error messages."""
    t = type(value)
    name = f"{t.__module__}.{t.__qualname__}" if t.__module__ not in ("builtins",) else t.__qualname__
    if isinstance(value, np.ndarray):
        return f"{name} (dtype {value.dtype}, shape {value.shape})"
    return name


# ---------------------------------------------------------------------------- encoding


def encode(value: Any) -> bytes:
    """Encode plain data (and ``Ref``s) to bytes; raise WireError for anything else."""
    out: list[bytes] = []
    _enc(value, out, 0)
    data = b"".join(out)
    if len(data) > MAX_MESSAGE:
        raise WireError(f"value too large to transfer ({len(data)} bytes)")
    return data


def encode_encoded_tuple(parts: list[bytes | list[bytes]]) -> bytes:
    """The encoding of a tuple whose items' encodings are ``parts`` (so items can be encoded
    early, as a snapshot, and sent together later). An item given as a list of encodings is
    itself such a tuple: nested, but joined with the rest in one copy, so a large reply never
    exists twice over in the worker (its memory is limited)."""
    flat: list[bytes] = [b"t", _U32.pack(len(parts))]
    for part in parts:
        if type(part) is list:
            flat += [b"t", _U32.pack(len(part)), *part]
        else:
            flat.append(part)
    data = b"".join(flat)
    if len(data) > MAX_MESSAGE:
        raise WireError(f"value too large to transfer ({len(data)} bytes)")
    return data


def _enc(v: Any, out: list[bytes], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise WireError("value nested too deeply")
    t = type(v)
    if t is np.ndarray:  # first: arrays are most of what replies carry
        head = _ARRAY_HEADS.get((v.dtype, v.ndim))
        if head is None:
            if v.dtype.str not in _DTYPES:
                raise WireError(f"array dtype {v.dtype} is not numeric or bool")
            if v.ndim > 32:
                raise WireError(f"array of {v.ndim} dimensions (at most 32 cross)")
            dt = v.dtype.str.encode()
            head = _ARRAY_HEADS[v.dtype, v.ndim] = b"a" + bytes([len(dt)]) + dt + bytes([v.ndim])
        out.append(head)
        out.append(_SHAPES[v.ndim].pack(*v.shape))
        out.append(v.tobytes())  # C order, whatever the array's own layout
    elif v is None:
        out.append(b"N")
    elif t is bool:
        out.append(b"T" if v else b"F")
    elif t is int:
        if -(2**63) <= v < 2**63:
            out.append(b"i" + _I64.pack(v))
        else:
            s = str(v).encode()
            if len(s) > MAX_INT_DIGITS:
                raise WireError("integer too large")
            out.append(b"I" + _U32.pack(len(s)) + s)
    elif t is float:
        out.append(b"f" + _F64.pack(v))
    elif t is str:
        b = v.encode("utf-8", "surrogatepass")
        out.append(b"s" + _U64.pack(len(b)) + b)
    elif t is bytes:
        out.append(b"y" + _U64.pack(len(v)) + v)
    elif t is list or t is tuple:
        out.append((b"l" if t is list else b"t") + _U32.pack(len(v)))
        for item in v:
            _enc(item, out, depth + 1)
    elif t is dict:
        out.append(b"d" + _U32.pack(len(v)))
        for k, item in v.items():
            _enc(k, out, depth + 1)
            _enc(item, out, depth + 1)
    elif t in _SCALAR_TYPES:
        dt = v.dtype.str.encode()
        out.append(b"g" + bytes([len(dt)]) + dt + v.tobytes())
    elif t is Ref:
        out.append(b"h" + _U64.pack(v.handle))
        _enc([list(step) for step in v.path], out, depth + 1)
    else:
        raise WireError(f"{describe_type(v)} is not plain data")


# An array's header by (dtype, ndim): tag, dtype code and rank (numeric dtypes only, so
# at most 14 x 33 entries).
_ARRAY_HEADS: dict[tuple[np.dtype, int], bytes] = {}


# ---------------------------------------------------------------------------- decoding


class _Reader:
    __slots__ = ("buf", "pos", "items", "end", "trusted")

    def __init__(self, buf: bytes) -> None:
        self.buf = bytes(buf)
        self.pos = 0
        self.items = 0
        self.end = len(self.buf)
        self.trusted = False

    def text(self, n: int) -> str:
        """A string of n encoded bytes: exact when trusted, else valid, capped UTF-8."""
        if self.trusted:
            return self.take(n).decode("utf-8", "surrogatepass")
        pos = self.pos
        if n < 0 or pos + n > self.end:
            raise WireError("truncated message")
        self.pos = pos + n
        if n <= MAX_TEXT_BYTES:
            return self.buf[pos : pos + n].decode("utf-8", "replace")
        # A multi-byte character cut at the limit decodes to U+FFFD like any other bad byte.
        return self.buf[pos : pos + MAX_TEXT_BYTES].decode("utf-8", "replace") + TRUNCATED

    def skip(self, n: int) -> int:
        """Move past ``n`` bytes; where they start."""
        pos = self.pos
        if n < 0 or pos + n > self.end:
            raise WireError("truncated message")
        self.pos = pos + n
        return pos

    def take(self, n: int) -> bytes:
        pos = self.skip(n)
        return self.buf[pos : pos + n]

    def unpack(self, fmt: struct.Struct) -> tuple:
        """The values of the fixed-size (precompiled) format ``fmt`` at the position."""
        return fmt.unpack_from(self.buf, self.skip(fmt.size))


def decode(data: bytes, *, trusted: bool = False) -> Any:
    """Decode bytes produced by ``encode``; strict about every length and type.

    Strings from an untrusted sender (the default) come out as valid UTF-8 text, lone
    surrogates replaced by U+FFFD, and at most ``MAX_TEXT_BYTES`` long with a visible
    "(truncated)": nothing downstream (SQLite, files, HTML, CSV, terminal) can fail on
    them. ``trusted`` keeps strings exactly (the parent's own messages to the sandbox,
    whose paths may hold undecodable bytes).
    """
    if len(data) > MAX_MESSAGE:
        raise WireError("message too large")
    r = _Reader(data)
    r.trusted = trusted
    try:
        value = _dec(r, 0)
    except (struct.error, UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, WireError):
            raise
        raise WireError(f"malformed message ({exc})") from None
    if r.pos != r.end:
        raise WireError("trailing bytes after message")
    return value


_SIMPLE = {ord("N"): None, ord("T"): True, ord("F"): False}
# Tags as byte values (compared as ints: this loop runs for every item of every reply).
(_TAG_INT, _TAG_FLOAT, _TAG_STR, _TAG_LIST, _TAG_TUPLE, _TAG_ARRAY, _TAG_BIGINT, _TAG_BYTES, _TAG_DICT,
 _TAG_SCALAR, _TAG_REF) = b"ifslta" b"Iydgh"


def _one(r: _Reader, fmt: struct.Struct) -> Any:
    """The one value of the fixed-size format ``fmt`` at the reader's position."""
    return r.unpack(fmt)[0]


def _dec(r: _Reader, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise WireError("message nested too deeply")
    r.items += 1
    if r.items > MAX_ITEMS:
        raise WireError("message has too many items")
    if r.pos >= r.end:
        raise WireError("truncated message")
    code = r.buf[r.pos]
    r.pos += 1
    if code in _SIMPLE:
        return _SIMPLE[code]
    if code == _TAG_FLOAT:
        return _one(r, _F64)
    if code == _TAG_INT:
        return _one(r, _I64)
    if code == _TAG_LIST or code == _TAG_TUPLE:
        n = _one(r, _U32)
        if n > MAX_ITEMS:
            raise WireError("message has too many items")
        items = [_dec(r, depth + 1) for _ in range(n)]
        return items if code == _TAG_LIST else tuple(items)
    if code == _TAG_ARRAY:
        # Inlined (no reader method per field): arrays are most of what replies carry.
        buf, pos, end = r.buf, r.pos, r.end
        start = pos + 1 + (buf[pos] if pos < end else 0)  # after the dtype code; then ndim
        if start >= end:
            raise WireError("truncated message")
        dtype = _DTYPE_CODES.get(buf[pos + 1:start])
        if dtype is None:
            raise WireError(f"dtype {buf[pos + 1:start].decode('ascii', 'replace')!r} not allowed")
        ndim = buf[start]
        if ndim > 32:
            raise WireError("too many dimensions")
        data = start + 1 + 8 * ndim
        if data > end:
            raise WireError("truncated message")
        shape = _SHAPES[ndim].unpack_from(buf, start + 1)
        count = 1
        for dim in shape:
            count *= dim
        nbytes = count * dtype.itemsize
        if nbytes > MAX_MESSAGE:
            raise WireError("array too large")
        if data + nbytes > end:
            raise WireError("truncated message")
        r.pos = data + nbytes
        return np.ndarray(shape, dtype, buffer=buf, offset=data).copy()
    if code == _TAG_STR:
        return r.text(_one(r, _U64))
    if code == _TAG_BIGINT:
        n = _one(r, _U32)
        if n > MAX_INT_DIGITS:
            raise WireError("integer too large")
        text = r.take(n).decode("ascii")
        if not text.lstrip("-").isdigit():
            raise WireError("malformed integer")
        return int(text)
    if code == _TAG_BYTES:
        return r.take(_one(r, _U64))
    if code == _TAG_DICT:
        n = _one(r, _U32)
        result = {}
        for _ in range(n):
            key = _dec(r, depth + 1)
            if type(key) not in (str, int, float, bool) and key is not None:
                raise WireError("unhashable dict key")
            result[key] = _dec(r, depth + 1)
        return result
    if code == _TAG_SCALAR:
        dtype = _read_dtype(r)
        return np.frombuffer(r.take(dtype.itemsize), dtype=dtype)[0]
    if code == _TAG_REF:
        handle = _one(r, _U64)
        raw_path = _dec(r, depth + 1)
        if type(raw_path) is not list:
            raise WireError("malformed handle path")
        path = []
        for step in raw_path:
            if type(step) is not list or len(step) != 2 or step[0] not in ("attr", "item"):
                raise WireError("malformed handle path")
            if step[0] == "attr" and type(step[1]) is not str:
                raise WireError("malformed attribute name")
            path.append((step[0], step[1]))
        return Ref(handle, tuple(path))
    raise WireError(f"unknown tag {bytes((code,))!r}")


_DTYPE_CODES: dict[bytes, np.dtype] = {code.encode(): dtype for code, dtype in _DTYPES.items()}


def _read_dtype(r: _Reader) -> np.dtype:
    code = r.take(_one(r, _U8))
    dtype = _DTYPE_CODES.get(code)
    if dtype is None:
        raise WireError(f"dtype {code.decode('ascii', 'replace')!r} not allowed")
    return dtype


# ---------------------------------------------------------------------------- framing


def send_message(sock, value: Any) -> None:
    """Send one length-prefixed message on a connected stream socket."""
    payload = encode(value)
    sock.sendall(struct.pack("<Q", len(payload)) + payload)


def recv_exact(sock, n: int) -> bytes:
    """Read exactly n bytes or raise EOFError."""
    chunks = []
    while n:
        chunk = sock.recv(min(n, 1 << 20))
        if not chunk:
            raise EOFError("connection closed")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _array(buffer: Any, dtype: np.dtype, shape: tuple) -> np.ndarray:
    """Worker side of ``_reduce_array``: the array over the unpickled buffer (writable when the
    parent's array was, as NumPy's own reduction gives it)."""
    return np.frombuffer(buffer, dtype).reshape(shape)


def _reduce_array(a: np.ndarray) -> tuple:
    """A C-ordered numeric array pickled as its buffer, dtype and shape: what NumPy's protocol 5
    reduction sends, at half its cost on both sides (requests carry hundreds of small arrays).
    Anything else (object dtype, another memory layout) goes NumPy's way."""
    if a.flags.c_contiguous and a.dtype.kind in "biufc":
        return _array, (pickle.PickleBuffer(a), a.dtype, a.shape)
    return a.__reduce_ex__(5)


_REQUEST_REDUCERS = {np.ndarray: _reduce_array}  # exact ndarrays only: a subclass keeps its own reduction


def request_bytes(value: Any) -> bytes:
    """A request as ``send_request`` pickles it."""
    out = io.BytesIO()
    pickler = pickle.Pickler(out, protocol=5)
    pickler.dispatch_table = _REQUEST_REDUCERS
    pickler.dump(value)
    return out.getvalue()


def send_request(sock, value: Any) -> None:
    """Parent -> worker: pickled, because the worker may trust what the parent sends.

    The other direction never uses pickle: the parent decodes worker replies with
    ``decode`` only.
    """
    payload = request_bytes(value)
    sock.sendall(struct.pack("<Q", len(payload)) + payload)


def recv_request(sock) -> Any:
    """Worker side of ``send_request``."""
    (n,) = struct.unpack("<Q", recv_exact(sock, 8))
    return pickle.loads(recv_exact(sock, n))  # noqa: S301 - written by the trusted parent


def recv_message(sock, *, trusted: bool = False) -> Any:
    """Receive and decode one message (``trusted``: see ``decode``)."""
    (n,) = struct.unpack("<Q", recv_exact(sock, 8))
    if n > MAX_MESSAGE:
        raise WireError("message too large")
    return decode(recv_exact(sock, n), trusted=trusted)
