"""Writes state_dict.bin: a PyTorch-style zip checkpoint made by CPython's
own pickler, laid out the way torch.save does (protocol 2, persistent ids
('storage', torch.<T>Storage, key, location, numel), tensors reduced through
torch._utils._rebuild_tensor_v2, parameters through _rebuild_parameter, an
OrderedDict carrying a _metadata attribute). torch itself is not needed:
stand-in modules provide the names the pickler records.

Run from this directory: python3 make_fixture.py
"""
import collections
import io
import pickle
import struct
import sys
import types
import zipfile

torch = types.ModuleType("torch")
utils = types.ModuleType("torch._utils")
sys.modules["torch"] = torch
sys.modules["torch._utils"] = utils


def _rebuild_tensor_v2(*args):
    raise RuntimeError("never called")


def _rebuild_parameter(*args):
    raise RuntimeError("never called")


_rebuild_tensor_v2.__module__ = "torch._utils"
_rebuild_parameter.__module__ = "torch._utils"
utils._rebuild_tensor_v2 = _rebuild_tensor_v2
utils._rebuild_parameter = _rebuild_parameter

for name in ["FloatStorage", "HalfStorage", "BFloat16Storage", "LongStorage"]:
    cls = type(name, (), {"__module__": "torch"})
    setattr(torch, name, cls)


class Storage:
    def __init__(self, cls, key, data, numel):
        self.cls, self.key, self.data, self.numel = cls, key, data, numel


class Tensor:
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, size, stride)

    def __reduce_ex__(self, proto):
        s, off, size, stride = self.args
        return (_rebuild_tensor_v2, (s, off, size, stride, False, collections.OrderedDict()))


class Parameter:
    def __init__(self, t):
        self.t = t

    def __reduce_ex__(self, proto):
        return (_rebuild_parameter, (self.t, True, collections.OrderedDict()))


class Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ("storage", obj.cls, obj.key, "cpu", obj.numel)
        return None


prefix = Storage(torch.HalfStorage, "0", struct.pack("<6e", 1, 2, -1, 0.5, 0, 3), 6)
weights = Storage(torch.FloatStorage, "1", struct.pack("<9f", *range(9)), 9)
ids = Storage(torch.LongStorage, "2", struct.pack("<2q", 7, 1 << 40), 2)

sd = collections.OrderedDict()
sd["transformer.prefix_encoder.embedding.weight"] = Parameter(Tensor(prefix, 0, (2, 3), (3, 1)))
sd["transformer.a.weight"] = Tensor(weights, 0, (2, 3), (3, 1))
sd["transformer.a.bias"] = Tensor(weights, 6, (3,), (1,))
sd["position_ids"] = Tensor(ids, 0, (1, 2), (2, 1))
sd._metadata = collections.OrderedDict([("", {"version": 1}), ("transformer", {"version": 1})])

buf = io.BytesIO()
Pickler(buf, protocol=2).dump(sd)
with zipfile.ZipFile("state_dict.bin", "w", zipfile.ZIP_STORED) as z:
    z.writestr("state_dict/data.pkl", buf.getvalue())
    z.writestr("state_dict/byteorder", "little")
    for s in (prefix, weights, ids):
        z.writestr("state_dict/data/" + s.key, s.data)
    z.writestr("state_dict/version", "3\n")
