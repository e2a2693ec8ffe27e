"""Tests for audiotok.formats.ecdc (ESF .ecdc codes files)."""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from audiotok.errors import FormatError
from audiotok.formats import ecdc

MARKER_ENV = "AUDIOTOK_TEST_MARKER"


class _Evil:
    """Pickles to a call of os.system that would create a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def _meta(**kw: object) -> ecdc.EcdcMeta:
    base: dict[str, object] = {
        "n_codebooks": 8,
        "n_frames": 0,
        "sample_rate": 24000,
        "bandwidth": 6.0,
        "model": "encodec_24khz",
        "audio_length": 3200,
    }
    base.update(kw)
    return ecdc.EcdcMeta(**base)  # type: ignore[arg-type]


def test_round_trip(tmp_path: Path) -> None:
    codes = np.random.default_rng(0).integers(0, 1024, size=(10, 8))
    written = ecdc.write(tmp_path / "a" / "x.ecdc", codes, _meta())
    assert (written.n_frames, written.n_codebooks) == (10, 8)
    assert written.audiotok_version
    got, meta = ecdc.read(tmp_path / "a" / "x.ecdc")
    assert got.dtype == np.int64 and got.shape == (10, 8)
    np.testing.assert_array_equal(got, codes)
    assert meta == written
    assert ecdc.read_meta(tmp_path / "a" / "x.ecdc") == written
    raw = torch.load(tmp_path / "a" / "x.ecdc", weights_only=True)
    assert raw["audio_codes"].shape == (1, 8, 10) and raw["audio_codes"].dtype == torch.int64
    assert set(raw) >= {"audio_scales", "audio_length", "sample_rate", "fps", "bandwidth", "model"}


@pytest.mark.parametrize("shape", [(1, 4, 7), (4, 7), (1, 1, 4, 7)])
def test_accepts_stored_shapes(tmp_path: Path, shape: tuple[int, ...]) -> None:
    codes = torch.arange(28).reshape(4, 7)
    torch.save({"audio_codes": codes.reshape(shape).to(torch.int32)}, tmp_path / "c.ecdc")
    got, meta = ecdc.read(tmp_path / "c.ecdc")
    np.testing.assert_array_equal(got, codes.T.numpy())
    assert (meta.n_frames, meta.n_codebooks, meta.fps, meta.model) == (7, 4, 75.0, None)
    assert ecdc.read_meta(tmp_path / "c.ecdc") == meta  # header-only path agrees with the full read


def test_read_meta_checks_the_codes_record(tmp_path: Path) -> None:
    ecdc.write(tmp_path / "x.ecdc", np.zeros((50, 8), np.int64), _meta())
    with zipfile.ZipFile(tmp_path / "x.ecdc") as zin, zipfile.ZipFile(tmp_path / "cut.ecdc", "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            zout.writestr(info, data[:100] if info.filename.endswith("data/0") else data)
    with pytest.raises(FormatError, match=r"cut\.ecdc"):
        ecdc.read_meta(tmp_path / "cut.ecdc")


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        ({"audio_codes": torch.zeros(2, 4, 7, dtype=torch.long)}, "shape"),
        ({"audio_codes": torch.zeros(4, 7)}, "dtype"),
        ({"audio_codes": [1, 2]}, "not a tensor"),
        ({"codes": torch.zeros(4, 7, dtype=torch.long)}, "audio_codes"),
        ([1, 2, 3], "dict"),
        ({"audio_codes": -torch.ones(4, 7, dtype=torch.long)}, "negative"),
    ],
)
def test_bad_contents(tmp_path: Path, payload: object, match: str) -> None:
    torch.save(payload, tmp_path / "bad.ecdc")
    with pytest.raises(FormatError, match=match) as info:
        ecdc.read(tmp_path / "bad.ecdc")
    assert str(tmp_path / "bad.ecdc") in str(info.value)


def test_hostile_pickle_in_torch_zip_is_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    torch.save(
        {"audio_codes": torch.zeros(1, 8, 4, dtype=torch.long), "x": _Evil(marker)}, tmp_path / "e.ecdc"
    )
    with pytest.raises(FormatError, match="refused"):
        ecdc.read(tmp_path / "e.ecdc")
    with pytest.raises(FormatError):
        ecdc.read_meta(tmp_path / "e.ecdc")
    assert not marker.exists()


def test_hostile_raw_pickle_is_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    (tmp_path / "e.ecdc").write_bytes(pickle.dumps({"audio_codes": _Evil(marker)}, protocol=2))
    with pytest.raises(FormatError):
        ecdc.read(tmp_path / "e.ecdc")
    assert not marker.exists()


@pytest.mark.parametrize("data", [b"", b"garbage bytes", b"PK\x03\x04broken zip"])
def test_garbage(tmp_path: Path, data: bytes) -> None:
    (tmp_path / "g.ecdc").write_bytes(data)
    with pytest.raises(FormatError, match=r"g\.ecdc"):
        ecdc.read(tmp_path / "g.ecdc")


def test_missing_and_directory(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="no such file"):
        ecdc.read(tmp_path / "nope.ecdc")
    with pytest.raises(FormatError, match="directory"):
        ecdc.read(tmp_path)


def test_write_rejects_bad_codes(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match=r"\[T, Cb\]"):
        ecdc.write(tmp_path / "x.ecdc", np.zeros((3, 4, 5), dtype=np.int64), _meta())
    with pytest.raises(FormatError, match="integer"):
        ecdc.write(tmp_path / "x.ecdc", np.zeros((3, 4)), _meta())
    assert not (tmp_path / "x.ecdc").exists()


def test_meta_is_frozen_and_strict() -> None:
    meta = _meta()
    with pytest.raises(ValidationError):
        meta.n_frames = 3  # type: ignore[misc]
    with pytest.raises(ValidationError):
        ecdc.EcdcMeta(n_codebooks=8, n_frames=1, colour="red")  # type: ignore[call-arg]


def _official_model() -> torch.nn.Module:
    from encodec.model import EncodecModel

    torch.manual_seed(0)
    model = EncodecModel._get_model([1.5, 3.0, 6.0, 12.0, 24.0], 24000, 1, causal=True, name="encodec_24khz")
    return model.eval()


def test_official_binary_24k_codes_are_read(tmp_path: Path) -> None:
    from encodec.compress import compress

    model = _official_model()
    model.set_target_bandwidth(6.0)
    wav = torch.randn(1, 2400) * 0.1
    (tmp_path / "o.ecdc").write_bytes(compress(model, wav, use_lm=False))
    with torch.no_grad():
        expected = model.encode(wav[None])[0][0][0].T.numpy()
    codes, meta = ecdc.read(tmp_path / "o.ecdc")
    np.testing.assert_array_equal(codes, expected)
    assert (meta.model, meta.sample_rate, meta.n_codebooks, meta.audio_length) == (
        "encodec_24khz",
        24000,
        8,
        2400,
    )


@pytest.mark.parametrize(
    ("header", "match"),
    [
        ({"m": "encodec_24khz", "al": 2400, "nc": 8, "lm": True}, "language model"),
        ({"m": "encodec_48khz", "al": 4800, "nc": 8, "lm": False}, "segments"),
    ],
)
def test_official_binary_unreadable_variants_are_named(
    tmp_path: Path, header: dict[str, object], match: str
) -> None:
    from encodec.binary import write_ecdc_header

    buf = io.BytesIO()
    write_ecdc_header(buf, header)
    (tmp_path / "o.ecdc").write_bytes(buf.getvalue() + b"\0" * 100)
    with pytest.raises(FormatError, match=f"official EnCodec binary .ecdc.*{match}"):
        ecdc.read(tmp_path / "o.ecdc")


def test_official_binary_truncated(tmp_path: Path) -> None:
    from encodec.binary import write_ecdc_header

    buf = io.BytesIO()
    write_ecdc_header(buf, {"m": "encodec_24khz", "al": 24000, "nc": 8, "lm": False})
    (tmp_path / "o.ecdc").write_bytes(buf.getvalue() + b"\0" * 10)
    with pytest.raises(FormatError, match="truncated"):
        ecdc.read(tmp_path / "o.ecdc")


def test_zip_is_a_torch_zip(tmp_path: Path) -> None:
    ecdc.write(tmp_path / "x.ecdc", np.zeros((2, 8), dtype=np.int64), _meta())
    assert zipfile.is_zipfile(tmp_path / "x.ecdc")


@pytest.mark.parametrize(
    ("stored", "dtype"),
    [((1, 3, 7), torch.int64), ((3, 7), torch.int32), ((1, 1, 3, 7), torch.int16), ((1, 3, 7), torch.uint8)],
)
@pytest.mark.parametrize("whole_file", [True, False], ids=["one-read", "record-by-record"])
def test_direct_zip_read_equals_torch_load(
    tmp_path: Path,
    stored: tuple[int, ...],
    dtype: torch.dtype,
    whole_file: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from audiotok.formats.ecdc import _fast as _ecdc_fast

    if not whole_file:  # the path of files over 64 MiB
        monkeypatch.setattr(_ecdc_fast, "_SLURP_MAX", 0)
    codes = torch.randint(0, 100, stored, dtype=torch.int64).to(dtype)
    path = tmp_path / "x.ecdc"
    torch.save({"audio_codes": codes, "audio_length": 2240, "fps": 75.0}, path)
    fast = _ecdc_fast.read_codes(path)
    assert fast is not None
    np.testing.assert_array_equal(fast[1], codes.numpy())
    got, meta = ecdc.read(path)
    np.testing.assert_array_equal(got, codes.reshape(3, 7).T.to(torch.int64).numpy())
    assert meta.n_frames == 7 and meta.n_codebooks == 3 and meta.audio_length == 2240


def test_non_contiguous_codes_take_the_torch_path(tmp_path: Path) -> None:
    from audiotok.formats.ecdc import _fast as _ecdc_fast

    base = torch.arange(21, dtype=torch.int64).reshape(7, 3)
    path = tmp_path / "t.ecdc"
    torch.save({"audio_codes": base.T}, path)  # [Cb=3, T=7], stored transposed
    assert _ecdc_fast.read_codes(path) is None
    got, _ = ecdc.read(path)
    np.testing.assert_array_equal(got, base.numpy())


def _truncated_ecdc(tmp_path: Path) -> bytes:
    ecdc.write(tmp_path / "whole.ecdc", np.zeros((5, 8), dtype=np.int64), _meta())
    return (tmp_path / "whole.ecdc").read_bytes()[:-200]


@pytest.mark.parametrize(
    "make", [lambda tmp: b"garbage bytes", lambda tmp: b"PK\x03\x04broken zip", _truncated_ecdc]
)
def test_refused_before_torch_only_what_torch_load_refuses(
    tmp_path: Path, make: Callable[[Path], bytes]
) -> None:
    path = tmp_path / "g.ecdc"
    path.write_bytes(make(tmp_path))
    with pytest.raises(Exception):  # noqa: B017 - torch raises several types; any means "unreadable"
        torch.load(path, weights_only=True, map_location="cpu")
    with pytest.raises(FormatError, match="not a readable torch checkpoint"):
        ecdc.read(path)


def test_older_torch_format_is_still_read(tmp_path: Path) -> None:
    codes = torch.randint(0, 1024, (1, 8, 9), dtype=torch.int64)
    path = tmp_path / "old.ecdc"  # torch's pre-zip format: a pickle stream (protocol 2)
    torch.save({"audio_codes": codes}, path, _use_new_zipfile_serialization=False)
    got, meta = ecdc.read(path)
    np.testing.assert_array_equal(got, codes[0].T.numpy())
    assert ecdc.read_meta(path) == meta and meta.n_frames == 9


def test_entry_read_with_a_second_pread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from audiotok.formats.ecdc import _fast as _ecdc_fast

    path = tmp_path / "x.ecdc"
    ecdc.write(path, np.arange(40, dtype=np.int64).reshape(5, 8), _meta())
    expected = _ecdc_fast.read_codes(path)
    monkeypatch.setattr(_ecdc_fast, "_SLACK", 0)  # the local header's name and extra field need a second read
    got = _ecdc_fast.read_codes(path)
    assert expected is not None and got is not None and got[0] == expected[0]
    np.testing.assert_array_equal(got[1], expected[1])
