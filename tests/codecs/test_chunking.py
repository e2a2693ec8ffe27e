"""Chunk plans cover every frame once, and windows carry the requested context."""

from __future__ import annotations

from collections.abc import Iterator

from hypothesis import given
from hypothesis import strategies as st

from audiotok.codecs.chunking import (
    Window,
    fixed_lengths,
    frames_for_seconds,
    plan_batches,
    plan_chunks,
    stream_windows,
)
from audiotok.codecs.plugin import Context


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


def test_one_stream_batches_equal_windows() -> None:
    windows = list(stream_windows([100 * 512], 512, 10, Context(3, 3)))  # windows 13, 16 x 8, 13 frames
    assert [w.samples // 512 for w in windows] == [13] + [16] * 8 + [13]
    groups = [[w.pos for w in g] for g in plan_batches(windows, 3)]
    assert groups == [[1, 2, 3], [4, 5, 6], [0, 9], [7, 8]]  # 0 and 9: equal length, within the horizon
    assert [[w.pos for w in g] for g in plan_batches(windows, 3, horizon=4)] == [
        [1, 2, 3], [0], [4, 5, 6], [7, 8], [9],
    ]  # fmt: skip
    assert [len(g) for g in plan_batches(windows, 1)] == [1] * 10


def test_streams_batch_by_sample_length_never_by_frames() -> None:
    # three 1-window clips: two of 1000 samples, one of 999 (same 2 frames): only equal samples batch
    windows = list(stream_windows([1000, 999, 1000], 512, 345, Context(32, 32)))
    assert [(w.stream, w.samples, w.chunk.window) for w in windows] == [
        (0, 1000, 2),
        (1, 999, 2),
        (2, 1000, 2),
    ]
    assert [[w.stream for w in g] for g in plan_batches(windows, 4)] == [[0, 2], [1]]
    assert [w.stream for w in stream_windows([0, 512], 512, None, Context(0, 0))] == [1]  # empty: none


@given(
    st.lists(st.integers(0, 40 * 64), max_size=8),
    st.integers(1, 6),
    st.integers(1, 5),
    st.integers(1, 12),
)
def test_batches_cover_windows_once_equal_lengths_within_horizon(
    lengths: list[int], chunk: int, batch_size: int, horizon: int
) -> None:
    windows = list(stream_windows(lengths, 64, chunk, Context(2, 3)))
    assert [w.pos for w in windows] == list(range(len(windows)))
    seen: list[int] = []

    def scan() -> Iterator[Window]:
        for w in windows:
            seen.append(w.pos)
            yield w

    calls = []
    for group in plan_batches(scan(), batch_size, horizon):
        calls.append(group)
        assert 1 <= len(group) <= batch_size and len({w.samples for w in group}) == 1
        assert [w.pos for w in group] == sorted(w.pos for w in group)
        assert group[-1].pos - group[0].pos < horizon
        assert len(seen) <= group[0].pos + horizon + 1  # yielded before the scan is a horizon past it
    assert sorted(w.pos for g in calls for w in g) == [w.pos for w in windows]


def test_seconds_to_chunk_frames() -> None:
    assert frames_for_seconds(4.0, 44100 / 512, 10_000) == 345  # round(344.53125)
    assert frames_for_seconds(0.001, 75.0, 10) == 1
    assert frames_for_seconds(None, 75.0, 1234) == 1234
    assert frames_for_seconds(None, 75.0, 0) == 1


@given(st.integers(0, 500), st.integers(1, 60), st.integers(0, 20), st.integers(0, 20))
def test_fixed_plan_repeats_one_window_length_with_at_least_the_context(
    n_frames: int, chunk: int, before: int, after: int
) -> None:
    chunks = plan_chunks(n_frames, chunk, Context(before, after), fixed=True)
    kept = [f for c in chunks for f in range(c.start, c.stop)]
    assert kept == list(range(n_frames))
    window = chunk + before + after
    for c in chunks:
        assert 0 <= c.win_start <= c.start and c.stop <= c.win_stop <= n_frames
        assert c.win_start == 0 or c.start - c.win_start >= before  # context is real signal
        assert c.win_stop == n_frames or c.win_stop - c.stop >= after
        assert c.window == (window if n_frames > window else n_frames) or (
            c is chunks[-1] and len(chunks) > 1 and c.window == (window + 1) // 2
        )


def test_fixed_plan_shifts_the_last_window_back_into_the_stream() -> None:
    chunks = plan_chunks(32, 8, Context(2, 3), fixed=True)  # windows of 13 frames
    assert [(c.start, c.stop, c.win_start, c.win_stop) for c in chunks] == [
        (0, 10, 0, 13),
        (10, 18, 8, 21),
        (18, 26, 16, 29),
        (26, 32, 19, 32),  # 6 frames and 2 of context do not fit in a half window (7)
    ]
    *_, tail = plan_chunks(30, 8, Context(2, 3), fixed=True)
    assert (tail.start, tail.stop, tail.win_start, tail.win_stop) == (26, 30, 23, 30)  # they do


def test_fixed_windows_of_a_stream_do_not_depend_on_the_other_streams() -> None:
    hop = 512
    lengths = [28 * hop, 28 * hop - 7, 16 * hop, 5 * hop]  # windows of 10 + 3 + 3 = 16 frames
    windows = list(stream_windows(lengths, hop, 10, Context(3, 3), fixed=True))
    by_stream = {s: [w.chunk.window for w in windows if w.stream == s] for s in range(4)}
    assert by_stream == {0: [16, 16, 8], 1: [16, 16, 8], 2: [16], 3: [5]}
    assert set(fixed_lengths(10, Context(3, 3))) == {16, 8}
    for j, n in enumerate(lengths):  # each stream is cut as it would be alone
        alone = [w.chunk for w in stream_windows([n], hop, 10, Context(3, 3), fixed=True)]
        assert alone == [w.chunk for w in windows if w.stream == j]
