"""cli/_errors.py: service parameters become flags in error lines (as hf's test_cli_errors.py)."""

from __future__ import annotations

import pytest

from audiotok.cli._errors import FLAGS, flag_for, format_error, with_flags
from audiotok.errors import AudiotokError, FormatError, InputError, UsageError


@pytest.mark.parametrize(
    ("param", "flag"),
    [("shard_index", "--shard-index"), ("outdir", "--outdir"), ("producers", "--producer"),
     ("suffixes", "--extensions"), ("architecture", "--codec"), ("inputs", "INPUTS")],
)  # fmt: skip
def test_flag_for(param: str, flag: str) -> None:
    assert flag_for(param) == flag


def test_every_override_is_a_real_change() -> None:
    assert all(flag != "--" + param.replace("_", "-") for param, flag in FLAGS.items())


def test_with_flags_maps_backticked_names_only() -> None:
    text = "`shard_index` must be in [0, `shard_count`); run `esf init` or `audiotok npq encode`"
    assert (
        with_flags(text)
        == "--shard-index must be in [0, --shard-count); run `esf init` or `audiotok npq encode`"
    )
    assert with_flags("no backticks -- here") == "no backticks -- here"


@pytest.mark.parametrize(
    ("exc", "line"),
    [
        (
            UsageError("`shard_index` must be in [0, `shard_count`)", param=("shard_index", "shard_count")),
            "usage error: --shard-index must be in [0, --shard-count)",
        ),
        (
            InputError("`audio_root` is not a folder", "ecdc", param="audio_root"),
            "input error: ecdc: --audio-root is not a folder",
        ),
        (UsageError("must be at least 1", param="jobs"), "usage error: must be at least 1 (--jobs)"),
        (
            FormatError("no DAC model fits; pass `model`", "a.npq", param="model"),
            "format error: a.npq: no DAC model fits; pass --model",
        ),
        (UsageError("--a and --b conflict"), "usage error: --a and --b conflict"),
    ],
)  # fmt: skip
def test_format_error_names_flags(exc: AudiotokError, line: str) -> None:
    assert format_error(exc) == line


def test_errors_carry_their_parameters() -> None:
    one = UsageError("`threads` must be >= 1", param="threads")
    assert (one.param, one.params, str(one)) == ("threads", ("threads",), "`threads` must be >= 1")
    two = UsageError("`out` and `outdir` exclude each other", param=("out", "outdir"))
    assert (two.param, two.params) == ("out", ("out", "outdir"))
    none = InputError("x", "p")
    assert (none.param, none.params, str(none)) == (None, (), "p: x")


def test_errors_cross_processes_whole() -> None:
    """Pickled (to and from Ray's actors), an error keeps its class, reason, path and parameters."""
    import pickle

    exc = UsageError("`shard_index` is out of range", "list.txt", param=("shard_index", "shard_count"))
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is UsageError
    assert (back.reason, back.path, back.params, str(back)) == (exc.reason, exc.path, exc.params, str(exc))
    assert format_error(back) == "usage error: list.txt: --shard-index is out of range"
