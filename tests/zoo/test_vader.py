"""The VADER ground-truth loader: parsing, labels, the fixed split, caching,
and the sdist fetch it shares with Tatoeba (what it prints)."""

import hashlib
import shutil
import sys

import pytest

from zoo.data import DataUnavailableError
from zoo.data import sdist
from zoo.data import vader
from zoo.data.cache import default_data_dir


@pytest.fixture(scope="module")
def movies():
    try:
        return vader.read_vader("movies")
    except DataUnavailableError as error:
        pytest.skip(f"vaderSentiment sdist not cached or fetchable: {error}")


def test_movie_file_parses(movies):
    assert len(movies) == 10605
    first = movies[0]
    assert first.id == "1" and first.score == pytest.approx(2.26666666667)
    assert first.text.startswith("The Rock is destined to be the 21st")
    assert not any("\r" in s.text or "\n" in s.text for s in movies)
    assert sum(s.score > 0 for s in movies) == 5242
    assert sum(s.score == 0 for s in movies) == 37


def test_movie_split_is_fixed_disjoint_and_labelled(movies):
    splits = vader.split_snippets(movies)
    assert [len(s) for s in splits] == [8603, 1000, 1000]
    texts = [{t for t, _ in split} for split in splits]
    assert not (
        texts[0] & texts[1] or texts[0] & texts[2] or texts[1] & texts[2]
    )
    assert sum(len(t) for t in texts) == 10603  # 2 duplicate texts merged
    # Pinned: the same split on every machine and Python.
    assert splits.test[0] == ("Phoned in business as usual.", 0)
    assert splits == vader.load_movie_snippets()
    score = {s.text: s.score for s in reversed(movies)}
    for split in splits:
        for text, label in split[:200]:
            assert label == int(score[text] > 0)
    # Shuffled: the test split is not a block of the file.
    order = {s.text: i for i, s in enumerate(movies)}
    positions = sorted(order[t] for t, _ in splits.test)
    assert positions[-1] - positions[0] > 9000


def test_other_sources_are_text_only(movies):
    texts = vader.unlabelled_texts()
    assert len(texts) == 3708 + 5190 + 4200
    assert all(isinstance(t, str) and t for t in texts)
    with pytest.raises(ValueError, match="name='imdb'"):
        vader.read_vader("imdb")


def test_cache_is_checked_and_rebuilt(movies, tmp_path):
    archive = default_data_dir() / vader.ARCHIVE_NAME
    if not archive.is_file():
        pytest.skip(f"{archive} is not cached")
    with pytest.raises(DataUnavailableError, match="pip download"):
        vader.read_vader("movies", data_dir=tmp_path, download=False)
    shutil.copy(archive, tmp_path / vader.ARCHIVE_NAME)
    assert vader.read_vader("movies", tmp_path, download=False) == movies
    cached = vader.vader_path("movies", tmp_path, download=False)
    cached.write_text("1\t1.0\ttampered\r\n")
    assert vader.read_vader("movies", tmp_path, download=False) == movies
    (tmp_path / vader.ARCHIVE_NAME).write_bytes(b"not the archive")
    cached.unlink()
    with pytest.raises(DataUnavailableError, match="sha256"):
        vader.read_vader("movies", tmp_path, download=False)


# A fake `pip download`: writes the archive in 4 chunks into a temporary
# directory under $TMPDIR (as pip does), then copies it to `-d`.
FAKE_PIP = """
import os, pathlib, shutil, sys, time
name, size, target = sys.argv[1], int(sys.argv[2]), sys.argv[3]
payload = b"x" * size
partial = pathlib.Path(os.environ["TMPDIR"]) / "pip-unpack-x" / name
partial.parent.mkdir()
with open(partial, "wb") as f:
    for i in range(4):
        f.write(payload[i * len(payload) // 4 : (i + 1) * len(payload) // 4])
        f.flush()
        time.sleep(0.3)
shutil.copy(partial, pathlib.Path(target) / name)
"""


def _fake_pip(monkeypatch, payload, fail=False):
    script = "import sys; print('ERROR: no index'); sys.exit(1)"
    monkeypatch.setattr(sdist, "PROGRESS_SECONDS", 0.1)
    monkeypatch.setattr(
        sdist,
        "pip_command",
        lambda requirement, data_dir: (
            [sys.executable, "-c", script]
            if fail
            else [
                sys.executable,
                "-c",
                FAKE_PIP,
                vader.ARCHIVE_NAME,
                str(len(payload)),
                str(data_dir),
            ]
        ),
    )


def test_fetch_says_what_where_progress_and_verified(
    tmp_path, monkeypatch, capsys
):
    payload = "x" * 4_000_000
    _fake_pip(monkeypatch, payload)
    monkeypatch.setattr(vader, "ARCHIVE_SIZE", len(payload))
    digest = hashlib.sha256(payload.encode()).hexdigest()
    archive = sdist.ensure_archive(
        tmp_path,
        vader.ARCHIVE_NAME,
        "VADER source archive",
        True,
        vader._download_archive,
        lambda what, reason: DataUnavailableError(reason),
        sha256=digest,
    )
    assert archive.read_text() == payload
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert lines[0] == (
        "fetching VADER ground-truth sentences: vaderSentiment-3.3.2.tar.gz "
        f"(4.0 MB) from PyPI (pip download {vader.PACKAGE}) into {tmp_path}"
    )
    shares = [
        int(line.split("%")[0].split()[-1]) for line in lines if "%" in line
    ]
    assert shares and shares == sorted(shares) and 0 < shares[-1] <= 100
    assert "downloaded in" in err
    assert f"sha256 verified; cached as {archive}" in lines[-1]
    # pip's temporary directory is cleaned up.
    assert sorted(p.name for p in tmp_path.iterdir()) == [vader.ARCHIVE_NAME]


def test_failed_fetch_keeps_pips_message(tmp_path, monkeypatch):
    _fake_pip(monkeypatch, "", fail=True)
    with pytest.raises(DataUnavailableError, match="ERROR: no index"):
        vader.read_vader("movies", data_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
