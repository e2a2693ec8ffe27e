"""audiotok.paths.expand_inputs gives the same answers as the plain reference it was optimised from."""

from __future__ import annotations

import glob
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audiotok.paths import InputFile, Unmatched, _glob_root, _matches, expand_inputs, iter_files


def reference_expand_inputs(
    inputs: list[str], *, suffixes: tuple[str, ...] | None, recursive: bool = False
) -> tuple[list[InputFile], list[Unmatched]]:
    """The straightforward version: Path.glob, is_file, sorted(), resolve() per file."""
    keep = None if suffixes is None else tuple(s.lower() for s in suffixes)
    files: list[InputFile] = []
    unmatched: list[Unmatched] = []
    seen: set[Path] = set()

    def add(path: Path, root: Path) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            files.append(InputFile(path, root))

    for arg in inputs:
        path = Path(arg)
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            found = sorted(p for p in path.glob(pattern) if p.is_file() and _matches(p, keep))
            if not found:
                hint = "" if recursive else " (use `recursive` for subfolders)"
                unmatched.append(Unmatched(arg, f"no matching files in folder{hint}"))
            for p in found:
                add(p, path)
        elif path.is_file():
            add(path, path.parent)
        elif set("*?[") & set(arg):
            root = _glob_root(arg)
            found = sorted(
                Path(p)
                for p in glob.glob(arg, recursive=True)
                if Path(p).is_file() and _matches(Path(p), keep)
            )
            if not found:
                unmatched.append(Unmatched(arg, "glob matched no files"))
            for p in found:
                add(p, root)
        else:
            unmatched.append(Unmatched(arg, "no such file or folder"))
    return files, unmatched


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Files, hidden files, odd names, subfolders, symlinks to files and folders, a broken link."""
    root = tmp_path_factory.mktemp("tree")
    names = ["a.npq", "a-b.npq", "a b.npq", "B.NPQ", ".hidden.npq", "c.wav", "noext", "z.npq"]
    for folder in ["", "sub", "sub/deep", "sub-x", "other"]:
        (root / folder).mkdir(parents=True, exist_ok=True)
        for name in names:
            (root / folder / name).write_bytes(b"x")
    (root / "empty").mkdir()
    (root / "dir.npq").mkdir()  # a folder named like a file
    (root / "link.npq").symlink_to(root / "a.npq")  # duplicate of a.npq
    (root / "sub" / "up.npq").symlink_to(Path("..") / "z.npq")  # relative link
    (root / "linked-dir").symlink_to(root / "other", target_is_directory=True)
    (root / "broken.npq").symlink_to(root / "missing.npq")
    return root


POOL = [
    ".",
    "sub",
    "sub/",
    "./sub/deep",
    "sub/../sub",
    "empty",
    "linked-dir",
    "other",
    "a.npq",
    "link.npq",
    "sub/up.npq",
    "z.npq",
    "c.wav",
    "noext",
    "broken.npq",
    "missing.npq",
    "dir.npq",
    "*.npq",
    "**/*.npq",
    "sub/**/*",
    "*/a.npq",
    "linked-dir/*",
    "[ab]*",
    "nothing-*.npq",
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    inputs=st.lists(st.sampled_from(POOL), min_size=1, max_size=5),
    suffixes=st.sampled_from([(".npq",), (".NPQ", ".wav"), None]),
    recursive=st.booleans(),
)
def test_same_as_reference(
    tree: Path,
    monkeypatch: pytest.MonkeyPatch,
    inputs: list[str],
    suffixes: tuple[str, ...] | None,
    recursive: bool,
) -> None:
    monkeypatch.chdir(tree)
    got = expand_inputs(inputs, suffixes=suffixes, recursive=recursive)
    assert got == reference_expand_inputs(inputs, suffixes=suffixes, recursive=recursive)


@pytest.mark.parametrize("recursive", [False, True])
def test_absolute_inputs_same_as_reference(tree: Path, recursive: bool) -> None:
    inputs = [str(tree), str(tree / "sub"), str(tree / "*.npq"), str(tree / "linked-dir")]
    got = expand_inputs(inputs, suffixes=(".npq",), recursive=recursive)
    assert got == reference_expand_inputs(inputs, suffixes=(".npq",), recursive=recursive)
    names = [f.path.name for f in got[0]]
    assert "link.npq" not in names  # the same file as a.npq, already listed
    assert names[:5] == [".hidden.npq", "B.NPQ", "a b.npq", "a-b.npq", "a.npq"]


def test_folder_scan_lists_sorted_files_only(tree: Path) -> None:
    files, unmatched = expand_inputs([tree / "sub"], suffixes=(".npq",))
    assert unmatched == []
    names = [".hidden.npq", "B.NPQ", "a b.npq", "a-b.npq", "a.npq", "up.npq", "z.npq"]
    assert [f.path.name for f in files] == names
    assert {f.root for f in files} == {tree / "sub"}
    # sub/up.npq links to ../z.npq: naming that file again adds nothing
    again, _ = expand_inputs([tree / "sub", tree / "z.npq", tree / "sub" / "z.npq"], suffixes=(".npq",))
    assert again == files


@pytest.mark.skipif(os.name == "nt" or os.geteuid() == 0, reason="needs POSIX permissions and no root")
def test_unreadable_folder_has_no_matches(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "a.npq").write_bytes(b"x")
    locked.chmod(0)
    try:
        got = expand_inputs([locked], suffixes=(".npq",))
        assert got == reference_expand_inputs([str(locked)], suffixes=(".npq",))
        assert got[1][0].reason.startswith("no matching files in folder")
    finally:
        locked.chmod(0o755)


@pytest.mark.parametrize("folder", [".", "sub", "./sub/", "sub/../sub", "other", "linked-dir", "empty", "A"])
@pytest.mark.parametrize("suffixes", [(".npq",), (".NPQ", ".wav"), None])
def test_iter_files_is_the_recursive_scan_lazily(
    tree: Path, monkeypatch: pytest.MonkeyPatch, folder: str, suffixes: tuple[str, ...] | None
) -> None:
    monkeypatch.chdir(tree)
    folder = str(tree) if folder == "A" else folder  # "A": the absolute path
    files, _ = reference_expand_inputs([folder], suffixes=suffixes, recursive=True)
    it = iter_files(folder, suffixes)
    assert iter(it) is it  # a generator: files come as the walk goes
    assert list(it) == [str(f.path) for f in files]
