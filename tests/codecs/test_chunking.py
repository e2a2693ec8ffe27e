"""Chunk plans cover every frame once, and windows carry the requested context."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from audiotok.codecs._chunking import batch_chunks, plan_chunks


@given(st.integers(0, 500), st.integers(1, 60), st.integers(0, 20))
def test_plan_covers_frames_once_with_context(n_frames: int, chunk: int, ctx: int) -> None:
    chunks = plan_chunks(n_frames, chunk, ctx)
    kept = [f for c in chunks for f in range(c.start, c.stop)]
    assert kept == list(range(n_frames))
    for c in chunks:
        assert c.win_start == max(0, c.start - ctx) and c.win_stop == min(n_frames, c.stop + ctx)
        assert c.keep.stop - c.keep.start == c.stop - c.start


def test_single_window_when_file_fits() -> None:
    (only,) = plan_chunks(10, 20, 16)
    assert (only.win_start, only.win_stop, only.keep) == (0, 10, slice(0, 10))


def test_batches_group_equal_windows() -> None:
    chunks = plan_chunks(100, 10, 3)  # windows 13, 16 x 8, 13
    groups = [[c.window for c in g] for g in batch_chunks(chunks, 3)]
    assert groups == [[13], [16, 16, 16], [16, 16, 16], [16, 16], [13]]
