"""The shipped demo clip is what examples/make_demo_clip.py makes; the README's opening commands work."""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiotok.formats import npq

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_demo_clip_matches_its_generator() -> None:
    spec = importlib.util.spec_from_file_location("make_demo_clip", EXAMPLES / "make_demo_clip.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    shipped, sr = sf.read(EXAMPLES / "demo_chords.flac", dtype="float32")
    assert sr == module.SR and shipped.shape[1] == 2
    np.testing.assert_allclose(shipped, module.synthesise(), atol=1 / 32768 + 1e-6)
    assert np.abs(shipped[:, 0] - shipped[:, 1]).mean() > 0.01  # Side carries signal


# -- the README opens with two commands that work on a fresh machine ------------------------------------
README = EXAMPLES.parent / "README.md"
OPTIONAL = {"transformers"}  # the hf extra: imported only when asked for, its test skips without it


def _opening() -> tuple[list[str], str]:
    """The code blocks before the README's first ``##`` heading, and the text before the first block."""
    text = README.read_text(encoding="utf-8")
    head = text.split("\n## ", 1)[0]
    blocks = re.findall(r"^```bash\n(.*?)^```$", head, flags=re.S | re.M)
    return [b.strip() for b in blocks], head.split("```", 1)[0]


def test_readme_opens_with_exactly_two_commands() -> None:
    blocks, before = _opening()
    assert before.startswith("# audiotok\n\n")
    paragraphs = [p for p in before.split("\n\n")[1:] if p.strip()]
    assert len(paragraphs) == 2  # the intro, and the line naming the first command
    assert len(blocks) == 2 and all("\n" not in b for b in blocks)  # one command each, copy-pasteable
    install, tests = (b.split(" && ") for b in blocks)
    for parts in (install, tests):
        assert parts[:2] == ["python3 -m venv .venv", ". .venv/bin/activate"]
    assert install[2] == 'pip install -e ".[openvino]"'  # the fast CPU path (see Backends)
    assert "audiotok npq encode examples/demo_chords.flac" in install[3:]
    assert tests[2:] == ['pip install -e ".[test]"', "python -m pytest -q"]


ONE_TIME = re.compile(r"warning: convert(ing|ed) dac-44khz's encoder for OpenVINO ")


def test_readme_first_command_encodes_the_demo_clip(dac_home: Path, tmp_path: Path) -> None:
    """Run its audiotok part as written (tiny model in a temp HOME; the install part is the user's)."""
    blocks, _ = _opening()
    steps = [shlex.split(step) for step in blocks[0].split(" && ")[3:]]
    assert steps and all(argv[0] == "audiotok" for argv in steps)
    (tmp_path / "examples").mkdir()
    shutil.copy(EXAMPLES / "demo_chords.flac", tmp_path / "examples")
    env = {**os.environ, "PYTHONPATH": str(EXAMPLES.parent)}
    env.pop("AUDIOTOK_DEBUG", None)
    outputs = []
    for argv in steps:
        proc = subprocess.run(
            [sys.executable, "-m", "audiotok", *argv[1:]], cwd=tmp_path, env=env,
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, (argv, proc.stderr)
        # nothing on stderr but, on a cold backend cache, the one-time conversion's announcement
        assert all(ONE_TIME.match(line) for line in proc.stderr.splitlines()), proc.stderr
        outputs.append(proc.stdout)
    header = npq.read_header(tmp_path / "examples" / "demo_chords.npq")
    duration = sf.info(str(EXAMPLES / "demo_chords.flac")).duration
    assert header.format == "NPQ2" and header.seq_len == math.ceil(duration * 44100 / 512)
    assert "NPQ2" in outputs[-1]  # the inspect step shows it


def _imports(root: Path) -> set[str]:
    names: set[str] = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"audiotok", "tests"} - OPTIONAL


def _closure(extras: tuple[str, ...]) -> set[str]:
    """Distributions (normalised names) that ``pip install -e ".[extras]"`` installs (metadata here)."""
    tomllib = pytest.importorskip("tomllib")
    requirements = pytest.importorskip("packaging.requirements")
    project = tomllib.loads((EXAMPLES.parent / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    todo = list(project["dependencies"]) + [r for e in extras for r in project["optional-dependencies"][e]]
    seen: set[str] = set()
    while todo:
        req = requirements.Requirement(todo.pop())
        name = re.sub(r"[-_.]+", "-", req.name).lower()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = importlib.metadata.requires(req.name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for sub in map(requirements.Requirement, requires):
            wanted = ["", *sorted(req.extras)]
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in wanted):
                todo.append(str(sub))
    return seen


def test_readme_test_command_installs_everything_the_tests_import() -> None:
    installed = _closure(("test",))
    providers = importlib.metadata.packages_distributions()
    missing = {
        module: providers.get(module, ["?"])
        for module in sorted(_imports(EXAMPLES.parent / "tests") | _imports(EXAMPLES.parent / "audiotok"))
        if not {re.sub(r"[-_.]+", "-", d).lower() for d in providers.get(module, [])} & installed
    }
    assert missing == {}
