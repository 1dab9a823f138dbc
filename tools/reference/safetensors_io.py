"""safetensors_io.py — read and write safetensors files without the safetensors package.

Format: 8 bytes little-endian header length n; n bytes of JSON mapping each tensor name to
{"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the end of the header), plus an
optional "__metadata__" object; then the raw little-endian data. dru's checkpoints (engine/checkpoint.h)
use the dtypes F32, F64, I64 and U8.
"""
import json
import struct

import numpy as np

_DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "U8": np.uint8, "F16": np.float16,
           "I32": np.int32, "BOOL": np.bool_}
_NAMES = {np.dtype(v): k for k, v in _DTYPES.items()}


def load(path):
    """Returns ({name: numpy array}, metadata dict) from a safetensors file."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: too short for a safetensors header")
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise ValueError(f"{path}: header length {n} runs past the end of the file")
    header = json.loads(data[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    body = memoryview(data)[8 + n:]
    tensors = {}
    for name, info in header.items():
        dt = np.dtype(_DTYPES[info["dtype"]]).newbyteorder("<")
        begin, end = info["data_offsets"]
        shape = tuple(info["shape"])
        count = int(np.prod(shape, dtype=np.int64))
        if not 0 <= begin <= end <= len(body) or end - begin != count * dt.itemsize:
            raise ValueError(f"{path}: tensor {name} has bad data offsets {begin}..{end}")
        tensors[name] = np.frombuffer(body[begin:end], dtype=dt).reshape(shape).copy()
    return tensors, meta


def save(path, tensors, metadata=None):
    """Writes {name: numpy array} (and optional string metadata) as a safetensors file."""
    header, chunks, at = {}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        raw = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": _NAMES[np.dtype(a.dtype)], "shape": list(a.shape), "data_offsets": [at, at + len(raw)]}
        chunks.append(raw)
        at += len(raw)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))


def load_into(module, path, strict=True):
    """Loads a dru checkpoint into a torch module whose state_dict names match."""
    import torch
    tensors, _ = load(path)
    state = {k: torch.from_numpy(v) for k, v in tensors.items()}
    module.load_state_dict(state, strict=strict)
    return module
