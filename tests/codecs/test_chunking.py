"""Chunk plans cover every frame once, and windows carry the requested context."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from audiotok.codecs.base import Context
from audiotok.codecs.chunking import batch_chunks, frames_for_seconds, plan_chunks


@given(st.integers(0, 500), st.integers(1, 60), st.integers(0, 20), st.integers(0, 20))
def test_plan_covers_frames_once_with_context(n_frames: int, chunk: int, before: int, after: int) -> None:
    chunks = plan_chunks(n_frames, chunk, Context(before, after))
    kept = [f for c in chunks for f in range(c.start, c.stop)]
    assert kept == list(range(n_frames))
    for c in chunks:
        assert c.win_start == max(0, c.start - before) and c.win_stop == min(n_frames, c.stop + after)
        assert c.keep.stop - c.keep.start == c.stop - c.start


def test_single_window_when_file_fits() -> None:
    (only,) = plan_chunks(10, 20, Context(16, 16))
    assert (only.win_start, only.win_stop, only.keep) == (0, 10, slice(0, 10))


def test_causal_context_looks_back_only() -> None:
    chunks = plan_chunks(10, 4, Context(3, 0))
    assert [(c.win_start, c.win_stop, c.keep) for c in chunks] == [
        (0, 4, slice(0, 4)),
        (1, 8, slice(3, 7)),
        (5, 10, slice(3, 5)),
    ]


def test_batches_group_equal_windows() -> None:
    chunks = plan_chunks(100, 10, Context(3, 3))  # windows 13, 16 x 8, 13
    groups = [[c.window for c in g] for g in batch_chunks(chunks, 3)]
    assert groups == [[13], [16, 16, 16], [16, 16, 16], [16, 16], [13]]
    by_stop = [[c.stop for c in g] for g in batch_chunks(chunks, 3, length=lambda c: c.stop - c.start)]
    assert by_stop == [[10, 20, 30], [40, 50, 60], [70, 80, 90], [100]]


def test_seconds_to_chunk_frames() -> None:
    assert frames_for_seconds(4.0, 44100 / 512, 10_000) == 345  # round(344.53125)
    assert frames_for_seconds(0.001, 75.0, 10) == 1
    assert frames_for_seconds(None, 75.0, 1234) == 1234
    assert frames_for_seconds(None, 75.0, 0) == 1
