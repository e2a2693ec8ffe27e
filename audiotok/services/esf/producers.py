"""Feature producers for ``esf add``: built-ins and user plugins.

A producer turns one ``.ecdc`` file into per-frame feature columns::

    produce(path: Path, T: int, options: dict[str, str]) -> dict[str, float32[T]]

Plugin API
----------
A plugin is a ``.py`` file in ``--producers-dir``. It must define
``produce(path, T, options)`` returning ``{name: array of length T}``; it may
define ``NAME`` (default: the file's stem), a module docstring (shown by
``--list-producers`` / ``--show-producer``), ``init(options)`` (called once
before the first file) and ``shutdown()`` (called once at the end). Options
come from ``--opt key=value`` as strings.

Plugins are Python code that **you** choose to run, like a config script:
audiotok imports them with the same rights as itself. Only load plugins you
trust. Data files (``.ecdc``, ``.npy``, ``.json``) never execute code.

Built-ins
---------
``const``
    Options ``name=value``: a constant column per option.
``lin``
    Options ``name=start:end``: a linear ramp from start (frame 0) to end (frame T-1).
``from_filename``
    Option ``regex``: searched in the file's stem; each match's groups
    ``name`` and ``value`` give a constant column (other named groups give a
    column named after the group).
``from_audio``
    Column ``rms_db``: per-frame RMS level in dBFS (``20 log10 rms``, floor
    -160 dB) over each frame's hop. From the source audio when option
    ``audio_dir`` is set (the file with the same relative stem and an audio
    suffix, resampled to the codec rate), else from audio decoded from the
    codes (option ``model``: a state-dict path; default the cached model
    named in the ``.ecdc``).
"""

from __future__ import annotations

import importlib.util
import inspect
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from audiotok.errors import InputError, UsageError
from audiotok.formats import ecdc
from audiotok.paths import AUDIO_SUFFIXES

__all__ = [
    "BUILTINS",
    "Producer",
    "ProducerInfo",
    "find_producer",
    "list_producers",
    "load_plugin",
    "rms_db_frames",
]

ProduceFn = Callable[[Path, int, Mapping[str, str]], Mapping[str, Any]]


@dataclass
class Producer:
    """A producer and its options, ready to run."""

    name: str
    produce_fn: ProduceFn
    doc: str = ""
    source: str = "built-in"
    init_fn: Callable[[Mapping[str, str]], Any] | None = None
    shutdown_fn: Callable[[], Any] | None = None
    options: dict[str, str] = field(default_factory=dict)

    def init(self) -> None:
        """Call the producer's ``init(options)``, if any."""
        if self.init_fn is not None:
            self.init_fn(self.options)

    def shutdown(self) -> None:
        """Call the producer's ``shutdown()``, if any."""
        if self.shutdown_fn is not None:
            self.shutdown_fn()

    def produce(self, path: Path, n_frames: int) -> dict[str, np.ndarray[Any, np.dtype[np.float32]]]:
        """Run the producer on one file and check its columns.

        Raises
        ------
        InputError
            If it returns anything but ``{str: array of length T}``, or raises.
        """
        try:
            out = self.produce_fn(path, n_frames, self.options)
        except (InputError, UsageError):
            raise
        except Exception as exc:  # a plugin may raise anything; report it per file
            raise InputError(f"producer {self.name!r} failed: {type(exc).__name__}: {exc}", path) from None
        if not isinstance(out, Mapping):
            raise InputError(f"producer {self.name!r} returned {type(out).__name__}, not a dict", path)
        cols: dict[str, np.ndarray[Any, np.dtype[np.float32]]] = {}
        for key, value in out.items():
            arr = np.asarray(value, dtype=np.float32).reshape(-1)
            if not isinstance(key, str) or not key:
                raise InputError(f"producer {self.name!r} returned a bad column name {key!r}", path)
            if arr.shape[0] != n_frames:
                got = arr.shape[0]
                raise InputError(
                    f"producer {self.name!r} column {key!r} has {got} frames, not T = {n_frames}", path
                )
            cols[key] = arr
        return cols


@dataclass(frozen=True)
class ProducerInfo:
    """A producer listed by ``--list-producers``."""

    name: str
    source: str
    doc: str


def _float(value: str, what: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise UsageError(f"{what}: {value!r} is not a number") from None


def _const(path: Path, n: int, options: Mapping[str, str]) -> dict[str, np.ndarray[Any, Any]]:
    return {k: np.full(n, _float(v, f"const {k}"), np.float32) for k, v in options.items()}


def _lin(path: Path, n: int, options: Mapping[str, str]) -> dict[str, np.ndarray[Any, Any]]:
    out = {}
    for k, v in options.items():
        start, sep, end = v.partition(":")
        if not sep:
            raise UsageError(f"lin {k}={v}: expected name=start:end")
        out[k] = np.linspace(_float(start, f"lin {k}"), _float(end, f"lin {k}"), n, dtype=np.float32)
    return out


def _from_filename(path: Path, n: int, options: Mapping[str, str]) -> dict[str, np.ndarray[Any, Any]]:
    pattern = options.get("regex")
    if not pattern:
        raise UsageError("from_filename needs a regex (`filename_regex`)", param="filename_regex")
    try:
        rx = re.compile(pattern)
    except re.error as exc:
        raise UsageError(f"bad `filename_regex`: {exc}", param="filename_regex") from None
    stem = path.name.split(".")[0]
    out: dict[str, np.ndarray[Any, Any]] = {}
    for match in rx.finditer(stem):
        groups = match.groupdict()
        if groups.get("name") is not None and groups.get("value") is not None:
            out[groups["name"]] = np.full(n, _float(groups["value"], f"{stem}: value"), np.float32)
        for key, value in groups.items():
            if key not in ("name", "value") and value is not None:
                out[key] = np.full(n, _float(value, f"{stem}: {key}"), np.float32)
    if not out:
        raise InputError(
            f"`filename_regex` {pattern!r} found nothing in {stem!r}", path, param="filename_regex"
        )
    return out


def rms_db_frames(
    wav: np.ndarray[Any, Any], hop: int, n_frames: int
) -> np.ndarray[Any, np.dtype[np.float32]]:
    """Per-frame RMS level in dBFS of mono-mixed ``wav [C, N]`` over windows of ``hop`` samples.

    Returns ``float32[n_frames]``; frames past the audio are silence (-160 dB).
    """
    mono = np.asarray(wav, dtype=np.float64).mean(axis=0)
    padded = np.zeros(n_frames * hop)
    m = min(mono.size, padded.size)
    padded[:m] = mono[:m]
    rms = np.sqrt(np.square(padded.reshape(n_frames, hop)).mean(axis=1))
    out: np.ndarray[Any, np.dtype[np.float32]] = (20.0 * np.log10(np.maximum(rms, 1e-8))).astype(np.float32)
    return out


_DECODE_CHUNK_FRAMES = 2250
"""Frames of codes decoded at a time by ``from_audio`` (30 s at 75 fps)."""


class _FromAudio:
    """``from_audio``: rms_db from the source audio or from audio decoded from the codes."""

    def __init__(self) -> None:
        self.models: dict[str, Any] = {}

    def shutdown(self) -> None:
        self.models.clear()

    def __call__(self, path: Path, n: int, options: Mapping[str, str]) -> dict[str, np.ndarray[Any, Any]]:
        # from_audio decodes audio: torch and the codecs load here, the other producers need neither
        from audiotok import audio
        from audiotok.codecs import registry, stream
        from audiotok.codecs.encodec.cached import spec_for

        meta = ecdc.read_meta(path)
        if options.get("audio_dir"):
            src = _find_audio(path, options)
            rate = meta.sample_rate or 24_000
            wav = audio.load(src, sample_rate=rate, mode="mono").numpy()
            return {"rms_db": rms_db_frames(wav, round(rate / meta.fps), n)}
        name = meta.model or "encodec_24khz"
        if name not in self.models:
            spec_for(name)  # a UsageError unless the file names an EnCodec model
            self.models[name] = registry.load_codec(name, checkpoint=options.get("model"), family="encodec")
        codec = self.models[name]
        codes, meta = ecdc.read(path)
        pieces = stream.decode_codes(codes, codec, (codes.shape[1],), chunk_frames=_DECODE_CHUNK_FRAMES)
        wav = np.concatenate(list(pieces), axis=1)
        return {"rms_db": rms_db_frames(wav, codec.hop_length, n)}


def _find_audio(path: Path, options: Mapping[str, str]) -> Path:
    audio_dir = Path(options["audio_dir"])
    root = options.get("audio_root")
    rel = path.relative_to(root) if root else Path(path.name)
    for suffix in AUDIO_SUFFIXES:
        cand = (audio_dir / rel).with_suffix(suffix)
        if cand.is_file():
            return cand
    raise InputError(f"no source audio for it under {audio_dir} ({rel.with_suffix('.*')})", path)


def _builtin(name: str, fn: ProduceFn, shutdown: Callable[[], Any] | None = None) -> Producer:
    doc = {
        "const": "Constant columns: name=value.",
        "lin": "Linear ramps: name=start:end over frames 0..T-1.",
        "from_filename": "Constant columns parsed from the file name by a regex with name/value groups.",
        "from_audio": "rms_db per frame (dBFS), from source audio (--audio-dir) or decoded codes.",
    }[name]
    return Producer(name=name, produce_fn=fn, doc=doc, shutdown_fn=shutdown)


def _from_audio_producer() -> Producer:
    impl = _FromAudio()
    return _builtin("from_audio", impl, impl.shutdown)


BUILTINS: dict[str, Callable[[], Producer]] = {
    "const": lambda: _builtin("const", _const),
    "lin": lambda: _builtin("lin", _lin),
    "from_filename": lambda: _builtin("from_filename", _from_filename),
    "from_audio": _from_audio_producer,
}


def load_plugin(path: Path) -> Producer:
    """Import a plugin file (user-chosen code) and wrap its ``produce``.

    Raises
    ------
    UsageError
        If it cannot be imported or has no callable ``produce``.
    """
    safe = re.sub(r"\W", "_", path.stem)
    mod_name = f"audiotok_plugin_{safe}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise UsageError("cannot load plugin", path)
    module: ModuleType = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the plugin's own import-time error
        raise UsageError(f"plugin failed to import: {type(exc).__name__}: {exc}", path) from None
    sys.modules.setdefault(mod_name, module)
    produce = getattr(module, "produce", None)
    if not callable(produce):
        raise UsageError("plugin has no produce(path, T, options) function", path)
    init, shutdown = getattr(module, "init", None), getattr(module, "shutdown", None)
    return Producer(
        name=str(getattr(module, "NAME", path.stem)),
        produce_fn=produce,
        doc=inspect.getdoc(module) or "",
        source=str(path),
        init_fn=init if callable(init) else None,
        shutdown_fn=shutdown if callable(shutdown) else None,
    )


def _plugins(producers_dir: Path | None) -> dict[str, Producer]:
    if producers_dir is None:
        return {}
    if not producers_dir.is_dir():
        raise UsageError("`producers_dir` is not a folder", producers_dir, param="producers_dir")
    found: dict[str, Producer] = {}
    for file in sorted(producers_dir.glob("*.py")):
        if file.name.startswith("_"):
            continue
        prod = load_plugin(file)
        found[prod.name] = prod
    return found


def list_producers(producers_dir: Path | None = None) -> list[ProducerInfo]:
    """Built-in producers, then the plugins in ``producers_dir``."""
    infos = [ProducerInfo(name, "built-in", make().doc) for name, make in BUILTINS.items()]
    infos += [ProducerInfo(p.name, p.source, p.doc) for p in _plugins(producers_dir).values()]
    return infos


def find_producer(
    name: str, producers_dir: Path | None = None, options: Mapping[str, str] | None = None
) -> Producer:
    """A built-in or plugin producer by name, with its options.

    Raises
    ------
    UsageError
        If no producer has that name.
    """
    if name in BUILTINS:
        prod = BUILTINS[name]()
    else:
        plugins = _plugins(producers_dir)
        if name not in plugins:
            known = sorted(BUILTINS) + sorted(plugins)
            raise UsageError(f"unknown producer {name!r}; known: {', '.join(known)}")
        prod = plugins[name]
    prod.options = dict(options or {})
    return prod
