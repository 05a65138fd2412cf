"""The OpenVINO backend: the CPU default (what vs-mlrt's ``ov_cpu`` runs, on our own graph).

The network (:class:`~vsrife.backends.graph.Interpolator`: frame and scene evidence) is converted
once per (weights, padded size, scale, ensemble, precision) through OpenVINO's PyTorch frontend,
with the timestep as an input so one graph serves every instant. Models with an encoder get a
second small graph for it, so each frame's features are still computed once. The converted IR is
kept in the user cache dir (``VSRIFE_COMPILED_DIR`` overrides it) under a key that includes the
vsrife, OpenVINO and torch versions and the weights (:func:`~vsrife.backends.openvino_runtime.entry_key`),
so a new version never loads a stale graph; OpenVINO's own ``CACHE_DIR`` keeps the compiled blobs
next to it. An unreadable entry is rebuilt. The first conversion's time is logged at info level.
Serving (this class's calls, and :func:`~vsrife.backends.openvino_runtime.from_cache` for a graph
converted before) runs on numpy arrays and does not need PyTorch.

Precision: ``fp32`` runs with the f32 inference hint: exact (0.000 dB against torch fp32 on real
footage). ``bf16`` is mixed: the convolutions of the IFBlock trunks and heads run in bfloat16, while
everything that carries the flow (resizes, flow arithmetic, warps, the fusion) and the encoder stay
in f32, by marking those nodes so the CPU plugin does not lower them. The whole-graph bf16 hint
loses up to 3 dB on real footage; the mixed graph stays within 0.01 dB on average (README).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .. import store
from ..archs.common import Warp, unconcatenated
from . import Target
from .graph import Interpolator
from .openvino_runtime import GraphRuntime, entry_key, properties, prune, used

log = logging.getLogger("vsrife")

TRUNK_PARTS = (".conv0", ".convblock", ".lastconv", ".conv1.", ".conv2.")
"""Module paths of the IFBlock trunk and head convolutions (4.x, paper: conv0/convblock/lastconv;
HDv3: conv0/convblock0-3/conv1/conv2): the nodes the mixed precision runs in bf16."""

_KEEP_KEY = "DisablePrecisionConversion_0"
_DONOR_XML = b"""<?xml version="1.0"?>
<net name="donor" version="11"><layers>
<layer id="0" name="x" type="Parameter" version="opset1"><data shape="1" element_type="f32"/>
<output><port id="0" precision="FP32"><dim>1</dim></port></output></layer>
<layer id="1" name="keep" type="Relu" version="opset1">
<rt_info><attribute name="DisablePrecisionConversion" version="0" value="dynamic:f16"/></rt_info>
<input><port id="0" precision="FP32"><dim>1</dim></port></input>
<output><port id="1" precision="FP32"><dim>1</dim></port></output></layer>
<layer id="2" name="y" type="Result" version="opset1"><input><port id="0" precision="FP32"><dim>1</dim></port></input></layer>
</layers><edges><edge from-layer="0" from-port="0" to-layer="1" to-port="0"/>
<edge from-layer="1" from-port="1" to-layer="2" to-port="0"/></edges></net>"""
"""A one-node IR carrying OpenVINO's ``DisablePrecisionConversion`` attribute, which the CPU plugin
honours under a reduced-precision hint; Python cannot construct that attribute, so it is read from
here and copied onto the nodes that must stay in f32."""


def convert(module: nn.Module, examples: Sequence[Tensor]) -> Any:
    """``module`` as an OpenVINO model with the static shapes of ``examples``. Through the PyTorch
    frontend itself, not ``ov.convert_model``: that one also runs OpenVINO's telemetry, which forks
    dozens of processes from this (multi-threaded) one to contact a server (measured: 2.2 s of a
    small benchmark run went to those forks)."""
    from openvino.frontend import FrontEndManager
    from openvino.frontend.pytorch.ts_decoder import TorchScriptPythonDecoder

    with torch.no_grad():
        frontend = FrontEndManager().load_by_framework("pytorch")
        decoder = TorchScriptPythonDecoder(module.eval(), example_input=tuple(examples))  # must outlive convert()
        model = frontend.convert(frontend.load(decoder))
        del decoder
    model.reshape({model.inputs[i]: list(x.shape) for i, x in enumerate(examples)})
    return model


class _Step(nn.Module):
    """Interpolator with positional inputs only (what the converter traces)."""

    def __init__(self, graph: Interpolator) -> None:
        super().__init__()
        self.interpolator = graph  # not "graph": traced modules have a .graph of their own
        spec = graph.target.spec
        self.timestep = spec.arbitrary_timestep
        self.features = spec.has_encoder

    def forward(self, img0: Tensor, img1: Tensor, *rest: Tensor) -> tuple[Tensor, Tensor]:
        rest_list = list(rest)
        t = rest_list.pop(0) if self.timestep else img0.new_full((1, 1, 1, 1), 0.5)
        f0, f1 = (rest_list[0], rest_list[1]) if self.features else (None, None)
        return self.interpolator(img0, img1, t, f0, f1)


class _Encode(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, img: Tensor) -> Tensor:
        out = self.net.encode(img)  # type: ignore[operator]
        assert out is not None
        return out


def _weights_digest(net: nn.Module) -> str:
    h = hashlib.sha256()
    for k, v in sorted(net.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()


class OpenVINOBackend(GraphRuntime):
    """Converts (once; then reads the cache) and serves through :class:`GraphRuntime`."""

    def __init__(
        self,
        net: nn.Module,
        target: Target,
        warp: Warp,
        cache: Path | None = None,
        threads: int | None = None,
        weights: str | None = None,
    ) -> None:
        import openvino as ov

        self.target = target
        self.core = ov.Core()
        net = net.float().eval().requires_grad_(False)
        root = cache or store.compiled_dir()
        self.entry = root / entry_key(target, weights or f"tensors:{_weights_digest(net)}")
        self.properties = properties(target, self.entry, threads)
        self._converted = False
        graph = Interpolator(net, target, warp)
        step = self._compiled("step", lambda: self._convert_step(graph))
        encoder = self._compiled("encoder", lambda: self._convert_encoder(net)) if target.spec.has_encoder else None
        used(self.entry)
        if self._converted:  # a new entry: keep the cache bounded
            prune(root, keep=self.entry)
        super().__init__(target, step, encoder)

    # ----------------------------------------------------------------- conversion and cache

    def _examples(self) -> list[Tensor]:
        ph, pw = self.target.padded
        img = torch.rand(1, 3, ph, pw)
        out = [img, img.clone()]
        if self.target.spec.arbitrary_timestep:
            out.append(torch.full((1, 1, 1, 1), 0.5))
        if self.target.spec.has_encoder:
            c = self.target.spec.encoder_channels
            out += [torch.rand(1, c, ph, pw), torch.rand(1, c, ph, pw)]
        return out

    def _convert(self, module: nn.Module, examples: Sequence[Tensor]) -> Any:
        model = convert(module, examples)
        if self.target.precision == "bf16":
            self._keep_flow_in_f32(model)
        return model

    def _convert_step(self, graph: Interpolator) -> Any:
        with unconcatenated(graph.net):  # no full-size joins: 0.36 GB less at 1080p, and faster
            return self._convert(_Step(graph), self._examples())

    def _convert_encoder(self, net: nn.Module) -> Any:
        return self._convert(_Encode(net), self._examples()[:1])

    def _keep_flow_in_f32(self, model: Any) -> None:
        """Mark every node outside the block trunks and heads to stay in f32 under the bf16 hint."""
        import openvino as ov

        donor = self.core.read_model(_DONOR_XML, ov.Tensor(np.zeros(0, np.uint8)))
        keep = next(o for o in donor.get_ops() if o.get_friendly_name() == "keep").get_rt_info()[_KEEP_KEY]
        for op in model.get_ops():
            if op.get_type_name() in ("Parameter", "Result", "Constant"):
                continue
            if not any(part in _module_of(op) for part in TRUNK_PARTS):
                op.set_rt_info(keep, _KEEP_KEY)

    def _compiled(self, name: str, convert: Any) -> Any:
        """The compiled graph ``name``: from the cache entry, else converted (and stored)."""
        import openvino as ov

        xml = self.entry / f"{name}.xml"
        if xml.is_file():
            try:  # by path: OpenVINO's blob cache then skips hashing the whole model
                return self.core.compile_model(str(xml), "CPU", self.properties)
            except Exception as e:  # noqa: BLE001 - a damaged graph is rebuilt, not fatal
                log.warning("RIFE: the cached OpenVINO graph %s is unreadable (%s); rebuilding it", xml, e)
        start = time.perf_counter()
        self._converted = True
        model = convert()
        stored = self._store(name, model, ov)
        if stored:  # run what later starts will read (the same graph, the same output)
            compiled = self.core.compile_model(str(xml), "CPU", self.properties)
        else:  # nowhere to cache: from a temporary copy (the graph read back from a file, as every
            # other start runs it: compiled from memory its output differs), without a blob cache
            uncached = {k: v for k, v in self.properties.items() if k != "CACHE_DIR"}
            with tempfile.TemporaryDirectory(prefix="vsrife-graph-") as tmp:
                ov.save_model(model, str(Path(tmp) / f"{name}.xml"), compress_to_fp16=False)
                compiled = self.core.compile_model(str(Path(tmp) / f"{name}.xml"), "CPU", uncached)
        log.info(
            "RIFE: converted %s for OpenVINO (%s, %dx%d, %s) in %.1f s; %s",
            self.target.spec.name,
            name,
            self.target.padded[1],
            self.target.padded[0],
            self.target.precision,
            time.perf_counter() - start,
            f"cached in {self.entry}" if stored else "not cached (see the warning above)",
        )
        return compiled

    def _store(self, name: str, model: Any, ov: Any) -> bool:
        """Write graph ``name`` into the entry without ever removing what is there: into temp files
        beside it, then renamed into place, the weights (.bin) before the graph (.xml), so that an
        .xml present means its .bin is complete. Processes that race (batch workers) write the same
        bytes; a reader never sees a half-written or vanishing graph. Failing to cache only costs
        the next start its conversion. Returns whether it was stored."""
        try:
            self.entry.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=self.entry))
            try:
                ov.save_model(model, str(tmp / f"{name}.xml"), compress_to_fp16=False)
                os.replace(tmp / f"{name}.bin", self.entry / f"{name}.bin")
                os.replace(tmp / f"{name}.xml", self.entry / f"{name}.xml")
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        except OSError as e:
            log.warning("RIFE: could not cache the OpenVINO graph in %s: %s", self.entry, e)
            return False
        return True


def _module_of(op: Any) -> str:
    """The torch module path an OpenVINO node came from (its own name, else a named consumer's)."""
    name = op.get_friendly_name()
    if name.startswith("__module."):
        return name.split("/")[0] + "."
    for out in op.outputs():
        for target in out.get_target_inputs():
            consumer = target.get_node().get_friendly_name()
            if consumer.startswith("__module."):
                return consumer.split("/")[0] + "."
    return ""
