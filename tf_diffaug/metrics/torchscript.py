"""Read the tensors of a TorchScript archive with `zipfile`, `pickle` and NumPy (no torch).

A TorchScript file written by `torch.jit.save` is a zip archive. Its `<root>/data.pkl` is a
pickle (protocol 2) of the module tree: every submodule is an instance of a generated class
(`__torch__.<module path> <ClassName>`) rebuilt with `NEWOBJ` and given its attribute dict via
`BUILD`; every tensor is `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)`
whose `storage` is a persistent id `('storage', <storage type>, <key>, <device>, <numel>)`
pointing at the raw little-endian bytes in `<root>/data/<key>`. Integer lists (e.g. conv
paddings) are `torch.jit._pickle.build_intlist([...])`.

`read_torchscript_tensors` replaces each of those torch callables with a NumPy equivalent and
returns the module tree as nested dicts of NumPy arrays and Python scalars. Nothing in the archive
is executed: unknown globals are refused, so a crafted file cannot run code.
"""

import collections
import io
import pickle
import zipfile

import numpy as np

# torch storage class name -> NumPy dtype of the raw little-endian bytes.
_STORAGE_DTYPES = {
    "DoubleStorage": np.dtype("<f8"),
    "FloatStorage": np.dtype("<f4"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class TorchScriptModule(dict):
    """A TorchScript submodule read from a pickle: its attributes as a dict.

    `type_name` is the TorchScript class, e.g. `"__torch__.inceptionv3.Conv2dLayer"`.
    """

    def __init__(self, type_name):
        super().__init__()
        self.type_name = type_name

    def __setstate__(self, state):
        self.update(state)

    def __repr__(self):
        return f"TorchScriptModule({self.type_name!r}, keys={list(self)})"


def _module_class(type_name):
    # A fresh subclass per TorchScript type so NEWOBJ can call it with no arguments.
    return type(
        "TorchScriptModule",
        (TorchScriptModule,),
        {"__init__": lambda self: TorchScriptModule.__init__(self, type_name)},
    )


class _StorageType:
    def __init__(self, name):
        self.name = name
        self.dtype = _STORAGE_DTYPES[name]


def _rebuild_tensor(storage, storage_offset, size, stride, *unused):
    """NumPy version of `torch._utils._rebuild_tensor_v2` (strides are in elements)."""
    size = tuple(int(s) for s in size)
    if not size:
        return storage[storage_offset].copy()
    itemsize = storage.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[storage_offset:], shape=size, strides=tuple(int(s) * itemsize for s in stride)
    )
    return np.ascontiguousarray(view)


def _build_list(values):
    return list(values)


class _TorchScriptUnpickler(pickle.Unpickler):
    def __init__(self, file, archive, root):
        super().__init__(file)
        self._archive = archive
        self._root = root
        self._storages = {}

    def find_class(self, module, name):
        if module.startswith("__torch__"):
            return _module_class(f"{module}.{name}")
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch.jit._pickle" and name.startswith("build_") and name.endswith("list"):
            return _build_list
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        raise pickle.UnpicklingError(
            f"Unsupported global '{module}.{name}' in TorchScript archive: only module classes, "
            f"tensors, storages and int lists can be read without torch."
        )

    def persistent_load(self, pid):
        kind, storage_type, key, _device, numel = pid
        if kind != "storage":
            raise pickle.UnpicklingError(f"Unsupported persistent id kind {kind!r}; expected 'storage'.")
        if key not in self._storages:
            raw = self._archive.read(f"{self._root}/data/{key}")
            array = np.frombuffer(raw, dtype=storage_type.dtype)
            if array.size < int(numel):
                raise pickle.UnpicklingError(f"Storage {key!r} has {array.size} elements, the pickle expects {numel}.")
            self._storages[key] = array
        return self._storages[key]


def read_torchscript_tensors(path):
    """Read the module tree and tensors of a TorchScript archive without torch.

    Args:
        path: path of a `.pt` file written by `torch.jit.save`.

    Returns:
        A `TorchScriptModule` (a dict subclass) for the root module: each attribute maps to a NumPy
        array (tensors), a nested `TorchScriptModule` (submodules), or a Python value (ints, lists,
        bools).

    Example:
    >>> tree = read_torchscript_tensors("default_1.pt")          # doctest: +SKIP
    >>> tree["net"]["layers"]["conv"]["weight"].shape            # doctest: +SKIP
    (32, 3, 3, 3)
    """
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise ValueError(f"{path!r} is not a TorchScript archive: expected one '<root>/data.pkl', found {pickles}.")
        root = pickles[0].split("/")[0]
        unpickler = _TorchScriptUnpickler(io.BytesIO(archive.read(pickles[0])), archive, root)
        return unpickler.load()


def read_torchscript_code(path):
    """Return `{file name: source}` of the TorchScript code stored in an archive (for inspection)."""
    with zipfile.ZipFile(path) as archive:
        return {
            name: archive.read(name).decode("utf-8")
            for name in archive.namelist()
            if "/code/" in name and name.endswith(".py")
        }
