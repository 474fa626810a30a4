"""Lazy package attributes (PEP 562): a package's names load their module on first use.

Every ``tf_diffaug`` package ``__init__`` declares which module defines each public name and
imports nothing itself, so ``import tf_diffaug.gan.modes`` (or any other light module) costs only
that module's own imports: no TensorFlow, no Keras. ``attach`` returns the package's
``__getattr__``, ``__dir__`` and ``__all__``; submodules not named in the table are found by
name too (``td.augment.layers``), as if the package had imported them.

Example:
    >>> import sys
    >>> __getattr__, __dir__, __all__ = attach("tf_diffaug.gan", {"AUGMENT_MODES": "modes"})
    >>> sorted(__getattr__("AUGMENT_MODES"))
    ['both', 'd_only', 'none', 'real_only']
    >>> "tf_diffaug.gan.modes" in sys.modules
    True
"""

import importlib
import importlib.util
import sys


def attach(package, attributes, submodules=()):
    """Builds the PEP 562 hooks of a package whose attributes load on first use.

    Args:
        package: the package's ``__name__``, e.g. ``"tf_diffaug.gan"``.
        attributes: ``{name: module}``: each public name and the submodule (relative to
            ``package``, e.g. ``"model"``) or absolute module (``"tf_diffaug.gan.advaug"``) that
            defines it.
        submodules: submodule names listed in ``__all__`` (reachable as attributes either way).

    Returns:
        ``(__getattr__, __dir__, __all__)`` to assign in the package's ``__init__``.
    """
    names = sorted(set(attributes) | set(submodules))

    def __getattr__(name):
        module_name = attributes.get(name)
        if module_name is not None:
            module = importlib.import_module(module_name if "." in module_name else f"{package}.{module_name}")
            value = getattr(module, name)
            setattr(sys.modules[package], name, value)  # resolved once; later lookups skip this hook
            return value
        if not name.startswith("__") and importlib.util.find_spec(f"{package}.{name}") is not None:
            return importlib.import_module(f"{package}.{name}")  # also sets it on the package
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        package_module = importlib.import_module(package)
        return sorted(set(vars(package_module)) | set(names))

    return __getattr__, __dir__, names
