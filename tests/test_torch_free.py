"""Commands that need no torch run without importing it (issue 8, item 6).

Each command runs in a fresh interpreter (``python -m audiotok ...``) where a
meta-path hook makes every ``import torch`` fail and records it, so even an
import that some code catches and ignores fails the test. To cover another
command, add it to :data:`COMMANDS` (or call :func:`run_cli_without_torch`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from audiotok.services.dataset.build import build_dataset
from tests._token_trees import make_esf_tree, make_npq_tree
from tests.dac_helpers import write_audio

REPO = Path(__file__).resolve().parents[1]
TORCH_IMPORTED = 97
"""Exit status of a guarded run that tried to import torch."""

_GUARD = r"""
import importlib.abc, importlib.machinery, sys, traceback

attempts = []


class _Blocked(importlib.abc.Loader):
    def create_module(self, spec):
        attempts.append("".join(traceback.format_stack(limit=15)))
        raise ImportError(f"{spec.name} is blocked: this command must run without torch")

    def exec_module(self, module):
        raise ImportError("unreachable")


class _NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            return importlib.machinery.ModuleSpec(name, _Blocked())
        return None


sys.meta_path.insert(0, _NoTorch())
code, sys.argv = sys.argv[1], ["audiotok", *sys.argv[2:]]
status = 0
try:
    exec(compile(code, "<guarded>", "exec"), {"__name__": "__main__"})
except SystemExit as exc:
    status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
if attempts or "torch" in sys.modules:
    sys.stderr.write("torch was imported:\n" + "\n".join(attempts))
    status = 97
sys.exit(status)
"""

_CLI = "from audiotok.cli.app import main\nmain()"


def run_without_torch(code: str, *argv: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
    """Run Python ``code`` (``sys.argv[1:] = argv``) in a fresh interpreter where torch cannot be imported.

    The exit status is :data:`TORCH_IMPORTED` if anything tried to import torch.
    """
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    env |= {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "AUDIOTOK_DEBUG": "1"}
    cmd = [sys.executable, "-c", _GUARD, code, *map(str, argv)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, check=False)


def run_cli_without_torch(*args: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
    """``python -m audiotok ARGS`` where torch cannot be imported."""
    return run_without_torch(_CLI, *args)


@pytest.fixture(scope="module")
def trees(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An ESF tree, an NPQ tree and datasets of both, made beforehand (writing .ecdc files needs torch)."""
    root = tmp_path_factory.mktemp("torch_free")
    make_esf_tree(root / "esf", 4)
    make_esf_tree(root / "sidecars", 3)  # esf init / add rewrite its sidecars
    make_npq_tree(root / "npq", 4, stereo=True)
    build_dataset(root / "esf", root / "ds_esf", recursive=True)
    build_dataset(root / "npq", root / "ds_npq", recursive=True, embed=False)
    items = sorted(root.glob("npq/*/*.npq"))[1:]  # one item not listed: left out by --preset nemo, a note
    listing = root / "items.jsonl"
    listing.write_text("".join(json.dumps({"path": f"npq/{p.parent.name}/{p.name}", "text": "hi"}) + "\n"
                               for p in items))  # fmt: skip
    return {
        "esf": root / "esf", "sidecars": root / "sidecars", "npq": root / "npq", "root": root, "list": listing
    }  # fmt: skip


Command = Callable[[dict[str, Path]], list[str]]
Record = dict[str, object]


def _files(recs: list[Record]) -> list[Record]:
    """The per-file records of a per-file command's output (its summary object comes last)."""
    assert "files_written" in recs[-1], recs[-1]
    return [r for r in recs if "input" in r]


#: Commands that must run without torch: ``(id, trees -> CLI arguments, check of the JSON Lines records)``.
#: The checks see every ``--json`` record the command printed; single-object commands give one.
COMMANDS: list[tuple[str, Command, Callable[[list[Record]], bool]]] = [
    (
        "dataset build esf --verify",
        lambda t: ["dataset", "build", str(t["esf"]), str(t["root"] / "out_esf"), "-r", "--verify", "--json"],
        lambda recs: recs[-1]["written"] is True and recs[-1]["splits"] == {"train": 4},
    ),
    (
        "dataset build npq --no-embed",
        lambda t: [
            "dataset",
            "build",
            str(t["npq"]),
            str(t["root"] / "out_npq"),
            "-r",
            "--no-embed",
            "--json",
        ],
        lambda recs: recs[-1]["written"] is True and recs[-1]["embedded"] is False,
    ),
    (
        "dataset export shar --preset nemo",
        lambda t: [
            "dataset",
            "export",
            str(t["npq"]),
            str(t["root"] / "out_shar"),
            *("--format", "shar", "--preset", "nemo", "--from-list", str(t["list"]), "--json"),
        ],
        lambda recs: recs[-1]["finished"] is True and recs[-1]["written"] == 3,
    ),
    (
        "dataset inspect esf",
        lambda t: ["dataset", "inspect", str(t["root"] / "ds_esf"), "--json"],
        lambda recs: recs[-1]["rows"] == 4 and recs[-1]["splits"][0]["kind"] == "esf",  # type: ignore[index]
    ),
    (
        "dataset inspect npq",
        lambda t: ["dataset", "inspect", str(t["root"] / "ds_npq"), "--json"],
        lambda recs: recs[-1]["rows"] == 4 and recs[-1]["splits"][0]["layout"] == "paths",  # type: ignore[index]
    ),
]
COMMANDS += [
    (
        "esf init",
        lambda t: ["esf", "init", "--audio-root", str(t["sidecars"]), "--overwrite", "--json"],
        lambda recs: [r["status"] for r in _files(recs)] == ["written"] * 3,
    ),
    (
        "esf add const lin",
        lambda t: [
            "esf",
            "add",
            "--audio-root",
            str(t["sidecars"]),
            *("-p", "const", "--const", "scene=7", "-p", "lin", "--lin", "pos=0:1"),
            *("--mode", "overwrite", "--json"),
        ],
        lambda recs: [r["names"] for r in _files(recs)] == [["scene", "pos"]] * 3,
    ),
    (
        "esf audit --jobs 2",
        lambda t: ["esf", "audit", "--audio-root", str(t["esf"]), "--jobs", "2", "--json"],
        lambda recs: recs[-1] == {"files": 4, "ok": 4, "broken": 0, "issues": {}},
    ),
    (
        "npq inspect --verify",
        lambda t: ["npq", "inspect", str(t["npq"]), "-r", "--verify", "--json"],
        lambda recs: (
            len(_files(recs)) == 4
            and all(r["verified"] is True and r["format"] == "NPQ2" for r in _files(recs))
        ),
    ),
]


@pytest.mark.parametrize(("args", "check"), [c[1:] for c in COMMANDS], ids=[c[0] for c in COMMANDS])
def test_command_runs_without_torch(
    trees: dict[str, Path], args: Command, check: Callable[[list[Record]], bool]
) -> None:
    res = run_cli_without_torch(*args(trees))
    assert res.returncode != TORCH_IMPORTED, res.stderr
    assert res.returncode == 0, res.stderr
    assert check([json.loads(line) for line in res.stdout.splitlines() if line.strip()]), res.stdout


def test_the_guard_catches_an_import_of_torch() -> None:
    caught = run_without_torch("try:\n    import audiotok.data\nexcept ImportError:\n    pass")
    assert caught.returncode == TORCH_IMPORTED and "torch was imported" in caught.stderr
    assert run_without_torch("import audiotok.services.dataset.build").returncode == 0


def test_npq_encode_on_a_warm_openvino_cache_runs_without_torch(dac_home: Path, tmp_path: Path) -> None:
    """Once the OpenVINO encoder is cached, ``npq encode`` (resampling, Mid/Side, silence) needs no torch,
    and writes the bytes of the run that made the cache."""
    pytest.importorskip("openvino")
    from typer.testing import CliRunner

    from audiotok.cli.app import app

    src = tmp_path / "in"
    write_audio(src / "stereo48k.wav", 1.3, sr=48000)
    write_audio(src / "mono24k.wav", 2.7, sr=24000, channels=1, seed=1)
    dual = write_audio(src / "dual.flac", 0.9, sr=44100, channels=1, seed=2)
    import soundfile as sf

    x, sr = sf.read(dual, dtype="float32")
    sf.write(dual, np.stack([x, x], axis=1), sr)  # L == R: an all-zero Side
    made = CliRunner().invoke(app, ["npq", "encode", str(src), "-o", str(tmp_path / "warm"), "--json"])
    assert made.exit_code == 0, made.output
    res = run_cli_without_torch("npq", "encode", src, "-o", tmp_path / "cold", "--json")
    assert res.returncode != TORCH_IMPORTED, res.stderr
    assert res.returncode == 0, res.stderr
    records = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
    assert records[-1]["backend"] == "openvino" and records[-1]["files_written"] == 3
    for npq_file in sorted((tmp_path / "warm").glob("*.npq")):
        assert (tmp_path / "cold" / npq_file.name).read_bytes() == npq_file.read_bytes(), npq_file.name


def test_npq_decode_on_a_warm_openvino_cache_runs_without_torch(
    dac_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """Once the OpenVINO decoder is cached, ``npq decode`` (NPQ1 and NPQ2, resampled) needs no torch,
    and writes the bytes of the run that made the cache (at the same thread count)."""
    pytest.importorskip("openvino")
    from typer.testing import CliRunner

    from audiotok import device
    from audiotok.cli.app import app

    monkeypatch.setattr(device, "_threads", None)  # --threads below sets it for this process
    torch = sys.modules.get("torch")
    if torch is not None:  # and torch's own count: restored for the tests after this one
        before = torch.get_num_threads()
        request.addfinalizer(lambda: torch.set_num_threads(before))

    src = tmp_path / "in"
    write_audio(src / "stereo.wav", 1.3, sr=44100)
    write_audio(src / "mono.wav", 0.7, sr=44100, channels=1, seed=1)
    cli = CliRunner()
    made = cli.invoke(app, ["npq", "encode", str(src), "-o", str(tmp_path / "npq"), "--backend", "eager"])
    assert made.exit_code == 0, made.output
    # one thread in both runs: a float sum's order, so a PCM16 sample, may depend on the count
    args = ["npq", "decode", str(tmp_path / "npq"), "--sample-rate", "48000", "--json", "--threads", "1"]
    warm = cli.invoke(app, [*args, "-o", str(tmp_path / "warm")])
    assert warm.exit_code == 0, warm.output
    res = run_cli_without_torch(*args, "-o", tmp_path / "cold")
    assert res.returncode != TORCH_IMPORTED, res.stderr
    assert res.returncode == 0, res.stderr
    records = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
    assert records[-1]["backend"] == "openvino" and records[-1]["files_written"] == 2
    wavs = sorted((tmp_path / "warm").glob("*.wav"))
    assert len(wavs) == 2
    for wav in wavs:
        assert (tmp_path / "cold" / wav.name).read_bytes() == wav.read_bytes(), wav.name


def test_esf_encode_on_a_warm_openvino_cache_runs_without_torch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """Once EnCodec 24 kHz's OpenVINO encoder is cached at a bandwidth, ``esf encode`` at that bandwidth
    (resampled, downmixed) needs no torch, and writes the bytes of the run that made the cache."""
    pytest.importorskip("openvino")
    from typer.testing import CliRunner

    from audiotok import device
    from audiotok.cli.app import app
    from tests import _encodec

    monkeypatch.setenv("AUDIOTOK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("AUDIOTOK_OFFLINE", "1")
    monkeypatch.setattr(device, "_threads", None)  # --threads below sets it for this process
    torch = sys.modules.get("torch")
    if torch is not None:  # and torch's own count: restored for the tests after this one
        before = torch.get_num_threads()
        request.addfinalizer(lambda: torch.set_num_threads(before))
    _encodec.install(monkeypatch, tmp_path / "torch_home")
    src = tmp_path / "in"
    write_audio(src / "stereo44k.wav", 1.3, sr=44100)
    write_audio(src / "mono24k.flac", 2.7, sr=24000, channels=1, seed=1)
    args = [
        "esf",
        "encode",
        str(src),
        "--bandwidth",
        "12",
        "--chunk-seconds",
        "1",
        "--json",
        "--threads",
        "1",
    ]
    warm = CliRunner().invoke(app, [*args, "-o", str(tmp_path / "warm")])
    assert warm.exit_code == 0, warm.output
    res = run_cli_without_torch(*args, "-o", tmp_path / "cold")
    assert res.returncode != TORCH_IMPORTED, res.stderr
    assert res.returncode == 0, res.stderr
    records = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
    assert records[-1]["backend"] == "openvino" and records[-1]["files_written"] == 2, records[-1]
    made = sorted((tmp_path / "warm").glob("*.ecdc"))
    assert len(made) == 2
    for ecdc_file in made:
        assert (tmp_path / "cold" / ecdc_file.name).read_bytes() == ecdc_file.read_bytes(), ecdc_file.name
