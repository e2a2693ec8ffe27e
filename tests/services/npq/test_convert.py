"""`.dac` -> `.npq` conversion is token-exact and isolates bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from audiotok.codecs import registry
from audiotok.errors import FormatError, InputError, UsageError
from audiotok.formats import dacfile, npq
from audiotok.formats.dacfile import DacVersionWarning
from audiotok.services.npq.convert import ConvertRecord, convert_dac_file, convert_paths, model_for_dac_file
from tests._records import collect, failed, records_of
from tests.dac_helpers import save_dac_file


def test_mono_file_is_token_exact(tmp_path: Path) -> None:
    codes = save_dac_file(tmp_path / "a.dac")
    header = convert_dac_file(tmp_path / "a.dac", tmp_path / "a.npq")
    tokens, read_header = npq.read(tmp_path / "a.npq")
    np.testing.assert_array_equal(tokens, codes[0].T)
    assert read_header == header
    assert header.token_rate == 86.1328125 and header.vocab_sizes == (1024,) * 9


def test_stereo_needs_a_channel(tmp_path: Path) -> None:
    codes = save_dac_file(tmp_path / "s.dac", channels=2)
    with pytest.raises(InputError, match="L/R, not Mid/Side"):
        convert_dac_file(tmp_path / "s.dac", tmp_path / "s.npq")
    assert not (tmp_path / "s.npq").exists()
    convert_dac_file(tmp_path / "s.dac", tmp_path / "s.npq", channel=1)
    tokens, _ = npq.read(tmp_path / "s.npq")
    np.testing.assert_array_equal(tokens, codes[1].T)
    with pytest.raises(InputError, match="out of range"):
        convert_dac_file(tmp_path / "s.dac", tmp_path / "s.npq", channel=2)


def test_batch_mirrors_tree_skips_existing_and_reports_bad(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "x").mkdir(parents=True)
    (src / "y").mkdir()
    save_dac_file(src / "x" / "take1.dac", seed=1)
    save_dac_file(src / "y" / "take1.dac", seed=2)
    (src / "y" / "broken.dac").write_bytes(b"not numpy")
    out = tmp_path / "out"
    summary, results = collect(convert_paths, [src], outdir=out, recursive=True)
    ok = [r for r in results if isinstance(r, ConvertRecord)]
    bad = failed(results)
    assert sorted(Path(str(r.output)).relative_to(out).as_posix() for r in ok) == [
        "x/take1.npq",
        "y/take1.npq",
    ]
    assert [r.status for r in ok] == ["written", "written"]
    assert len(bad) == 1 and bad[0].input.endswith("broken.dac")
    assert (summary.files_written, summary.files_failed) == (2, 1)
    assert not npq.read(out / "x" / "take1.npq")[0].tolist() == npq.read(out / "y" / "take1.npq")[0].tolist()
    again = records_of(convert_paths, [src], outdir=out, recursive=True)
    assert [r.status for r in again if isinstance(r, ConvertRecord)] == ["skipped", "skipped"]


@pytest.mark.parametrize("k", [1, 4, 9])
def test_cut_files_at_the_models_rate_convert(tmp_path: Path, k: int) -> None:
    """descript-audio-codec 1.0.0 with --n_quantizers K on 44.1 kHz audio: the model comes from the rate."""
    codes = save_dac_file(tmp_path / "a.dac", k=k, sample_rate=44100, seed=k)
    header = convert_dac_file(tmp_path / "a.dac", tmp_path / "a.npq")
    tokens, _ = npq.read(tmp_path / "a.npq")
    np.testing.assert_array_equal(tokens, codes[0].T)
    assert header.n_codebooks == k and header.vocab_sizes == (1024,) * k
    assert header.token_rate == 44100 / 512


@pytest.mark.parametrize(
    ("rate", "k", "name"),
    [(24000, 8, "24khz"), (16000, 12, "16khz"), (16000, 9, "16khz"), (44100, 12, "44khz-16kbps")],
)
def test_model_from_rate_then_codebooks(tmp_path: Path, rate: int, k: int, name: str) -> None:
    save_dac_file(tmp_path / "a.dac", k=k, sample_rate=rate)
    meta = dacfile.read(tmp_path / "a.dac")[1]
    spec = model_for_dac_file(meta)
    assert spec.short_name == name
    assert convert_dac_file(tmp_path / "a.dac", tmp_path / "a.npq").token_rate == spec.frame_rate


def test_model_from_codebooks_or_named(tmp_path: Path) -> None:
    save_dac_file(tmp_path / "k32.dac", k=32)  # 48 kHz source: a full K still names the model
    header = convert_dac_file(tmp_path / "k32.dac", tmp_path / "k32.npq")
    assert header.token_rate == 75.0 and header.n_codebooks == 32
    save_dac_file(tmp_path / "k4.dac", k=4)  # 48 kHz source, cut with n_quantizers: nothing says
    with pytest.raises(InputError, match=r"sample rate 48000 Hz is none of the models.*pass `model`"):
        convert_dac_file(tmp_path / "k4.dac", tmp_path / "k4.npq")
    assert not (tmp_path / "k4.npq").exists()
    header = convert_dac_file(tmp_path / "k4.dac", tmp_path / "k4.npq", model=registry.get("16khz"))
    assert header.token_rate == 50.0 and header.n_codebooks == 4
    with pytest.raises(InputError, match="model 16khz has 12"):
        convert_dac_file(tmp_path / "k32.dac", tmp_path / "x.npq", model=registry.get("16khz"))
    save_dac_file(tmp_path / "k20.dac", k=20, sample_rate=44100)
    with pytest.raises(InputError, match="44100 Hz DAC models have at most 18"):
        convert_dac_file(tmp_path / "k20.dac", tmp_path / "k20.npq")
    with pytest.raises(UsageError, match="unknown DAC model"):
        convert_paths([tmp_path], outdir=None, model="8khz")


@pytest.mark.parametrize(("version", "said"), [("9.9.9", "dac_version '9.9.9'"), (None, "no dac_version")])
def test_unknown_dac_version_converts_with_a_warning(tmp_path: Path, version: str | None, said: str) -> None:
    codes = save_dac_file(tmp_path / "new.dac", dac_version=version)
    with pytest.warns(DacVersionWarning) as caught:
        convert_dac_file(tmp_path / "new.dac", tmp_path / "new.npq")
    (warning,) = caught
    assert str(warning.message) == (
        f"{tmp_path / 'new.dac'}: {said} is not one audiotok knows (1.0.0); "
        "read with the 1.0.0 layout, whose fields it has"
    )
    np.testing.assert_array_equal(npq.read(tmp_path / "new.npq")[0], codes[0].T)


def test_unknown_dac_version_without_the_known_fields_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.dac"
    with open(path, "wb") as fh:  # a future layout: codes under another key, other metadata
        np.save(fh, {"codes_v2": np.zeros((1, 9, 4), np.uint16), "metadata": {"dac_version": "9.9.9"}})
    with pytest.raises(FormatError, match="expected a dict with 'codes' and 'metadata'"):
        convert_dac_file(path, tmp_path / "other.npq")
    save_dac_file(path, dac_version="9.9.9")
    artifacts = np.load(path, allow_pickle=True)[()]  # written just above: trusted
    del artifacts["metadata"]["chunk_length"]
    with open(path, "wb") as fh:
        np.save(fh, artifacts)
    with pytest.raises(FormatError, match=r"bad \.dac metadata \('chunk_length'\)"):
        convert_dac_file(path, tmp_path / "other.npq")
    assert not (tmp_path / "other.npq").exists()
