"""The VADER ground-truth loader: parsing, labels, the fixed split, caching."""

import shutil

import pytest

from zoo.data import DataUnavailableError
from zoo.data import default_data_dir
from zoo.data import vader


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
