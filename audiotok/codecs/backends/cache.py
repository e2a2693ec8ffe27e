"""The backends' disk cache: one entry per converted network, made once and atomically, with its verdict.

An entry is :func:`~audiotok.codecs.weights.cache_root` ``/backends/KEY/``
(:func:`_key`): ``model.xml`` and ``model.bin`` (the converted model),
``gate.json`` (the correctness gate's verdict and the codec's shape) and,
once used, OpenVINO's compiled blobs under ``compiled/``
(:mod:`audiotok.codecs.backends.openvino`). It is made in a temporary folder
beside it and renamed into place (``os.replace``), so a crash never leaves a
half-written entry, and two processes that make it at once keep one.

- :func:`_openvino_entry`: an entry's network for a loaded codec; the first
  time, converts it (announced on the ``audiotok.codecs.backends.cache``
  logger at WARNING, with its cost once done) and runs the gate; a recorded
  failed verdict is kept; the codec's shape is added to an entry made
  before it had one;
- :func:`cached_network`: an entry's network and shape with no PyTorch
  model at all, if its gate passed;
- :func:`entry_tag`: what runs a network, for keying caches of its outputs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audiotok._fsio import write_bytes_atomic
from audiotok.codecs.backends.gate import _example, _gate
from audiotok.codecs.backends.openvino import _convert_openvino, _openvino_runner, installed
from audiotok.codecs.weights import cache_root
from audiotok.device import threads
from audiotok.errors import OutputError

if TYPE_CHECKING:
    from audiotok.codecs.plugin import Capabilities, Codec, Network, Part

logger = logging.getLogger(__name__)


def _version(backend: str) -> str:
    if backend == "openvino":
        import openvino

        return str(openvino.__version__).split("-")[0]
    import torch

    return torch.__version__.split("+")[0]


def _key(sha256: str, part: Part, backend: str, family: str, layout: int, tag: str = "") -> str:
    """``SHA-PART-BACKEND-VERSION-any[-TAG]-FAMILYLAYOUT``.

    ``tag`` is the codec's ``export_tag(part)``; ``FAMILYLAYOUT`` its family and
    ``caps.export_layout`` (``dac4``), so that changing what one codec's
    entries hold invalidates only that codec's entries.
    """
    extra = f"-{tag}" if tag else ""
    return f"{(sha256 or 'nosha')[:24]}-{part}-{backend}-{_version(backend)}-any{extra}-{family}{layout}"


def entry_tag(codec: Codec, part: Part) -> str:
    """``BACKEND-VERSION-FAMILYLAYOUT`` of what runs ``part`` of ``codec`` (keys caches of its outputs)."""
    backend = codec.backend_of(part)
    return f"{backend}-{_version(backend)}-{codec.family}{codec.caps.export_layout}"


def cached_network(
    weights_sha256: str, part: Part, *, family: str, caps: Capabilities, tag: str = ""
) -> tuple[Network, dict[str, Any]] | None:
    """The OpenVINO ``part`` of the weights ``weights_sha256``, if its entry passed its gate.

    What the network maps is the codec's ``export_module(part)`` (DAC:
    audio -> codes, codes -> audio; EnCodec 24 kHz: audio -> codes).
    ``family`` and ``caps`` are the codec's (``caps.export_layout`` keys the
    entry, ``caps.static_shapes`` see
    :class:`~audiotok.codecs.backends.openvino.OpenVinoNetwork`), ``tag`` its
    ``export_tag(part)`` (EnCodec: ``q8``).

    Returns
    -------
    (runner, shape) or None
        The compiled network and the codec's shape as stored in
        ``gate.json`` (DAC: :meth:`~audiotok.codecs.dac.DacShape.to_json`);
        ``None`` when openvino is not installed, there is no such entry, it
        failed its gate or holds no shape. Nothing of the PyTorch model is needed.
    """
    if not installed():
        return None
    folder = (
        cache_root() / "backends" / _key(weights_sha256, part, "openvino", family, caps.export_layout, tag)
    )
    try:
        verdict = json.loads((folder / "gate.json").read_text())
    except (OSError, ValueError):
        return None
    if (
        not isinstance(verdict, dict)
        or not verdict.get("passed")
        or not isinstance(verdict.get("codec"), dict)
    ):
        return None
    runner = _openvino_runner(folder / "model.xml", threads(), folder / "compiled", caps.static_shapes)
    return runner, verdict["codec"]


def _shown(folder: Path) -> str:
    """``folder`` as a user would type it: ``~/...`` inside the home folder."""
    try:
        return str(Path("~") / folder.relative_to(Path.home()))
    except (ValueError, RuntimeError):  # elsewhere, or no home folder
        return str(folder)


def _openvino_entry(codec: Codec, part: Part) -> tuple[Network | None, str]:
    """``part`` of ``codec`` on its OpenVINO entry, made (converted, gated) if missing: (runner, why not)."""
    import openvino

    root = cache_root() / "backends"
    key = _key(
        codec.weights_sha256, part, "openvino", codec.family, codec.caps.export_layout, codec.export_tag(part)
    )
    folder = root / key
    static = codec.caps.static_shapes
    gate_file = folder / "gate.json"
    if gate_file.is_file():
        verdict = json.loads(gate_file.read_text())
        if not verdict.get("passed"):
            return None, str(verdict.get("detail", "failed its correctness gate"))
        shape = codec.shape_json()
        if verdict.get("codec") is None and shape is not None:
            # made before the codec had a shape to store: add it, so later runs need no model
            with contextlib.suppress(OSError, OutputError):
                write_bytes_atomic(gate_file, json.dumps({**verdict, "codec": shape}).encode())
        return _openvino_runner(folder / "model.xml", threads(), folder / "compiled", static), ""
    # a first run: say why it waits (tens of seconds for a full-size model), and that it is once only
    name = codec.codec_id or codec.name
    logger.warning(
        "converting %s's %s for OpenVINO (once for these weights; this takes a while; cached in %s)",
        name,
        part,
        _shown(root),
    )
    t0 = time.perf_counter()
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".{folder.name}.{secrets.token_hex(4)}.tmp"
    tmp.mkdir()
    try:
        _convert_openvino(codec.export_module(part), _example(codec, part), tmp)
        model = openvino.Core().read_model(tmp / "model.xml")
        runner = _openvino_runner(model, threads(), None, static)
        passed, detail = _gate(codec, part, runner)
        verdict = {"passed": passed, "detail": detail, "codec": codec.shape_json()}
        (tmp / "gate.json").write_text(json.dumps(verdict))
        with contextlib.suppress(OSError):  # another process made it first: theirs is as good
            os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    elapsed = time.perf_counter() - t0
    logger.warning("converted %s's %s for OpenVINO in %.1f s", name, part, elapsed)
    return (runner, "") if passed else (None, detail)
