"""The English text for masked-LM pretraining: Tatoeba English + VADER.

`pretraining_texts` gathers the distinct English sentences of Tatoeba
(`zoo.data.tatoeba`, CC BY 2.0 FR) plus the VADER review-like text
(`zoo.data.vader`, MIT): the Amazon, NYT-editorial and tweet sentences and
the TRAIN split of the movie snippets (their text only; the validation and
test snippets, which the BERT classifier is scored on, are never included).
The distinct texts are ordered by a stable BLAKE2b hash and the first
`validation_texts` held out to score the masked LM, so the corpus and its
held-out part are the same on every machine.
"""

import hashlib

from zoo.data import vader
from zoo.data.tatoeba import read_tatoeba_pairs

REVIEW_SOURCES = ("amazon", "nyt", "tweets")


def _stable_key(seed, text):
    return hashlib.blake2b(f"{seed}\x00{text}".encode(), digest_size=8).digest()


def pretraining_texts(
    data="tatoeba+vader",
    max_tatoeba=0,
    max_reviews=0,
    review_repeats=1,
    validation_texts=2000,
):
    """`(train_texts, validation_texts)` of the pretraining corpus.

    Args:
        data: `"tatoeba+vader"` or `"vader"` (review-like text only).
        max_tatoeba: keep this many Tatoeba sentences (a hash-ordered
            sample); 0 keeps all 178,031 distinct ones.
        max_reviews: keep this many review-like texts (hash-ordered), 0 =
            all 21,701 (8,603 movie-train snippets + 13,098 others).
        review_repeats: copies of each review-like text in the training
            texts (in-domain upsampling; each copy lands elsewhere).
        validation_texts: distinct texts held out for the MLM validation.

    Returns:
        Two lists of str: the training texts in their fixed (hash) order,
        and the held-out texts.
    """
    tatoeba = []
    if data == "tatoeba+vader":
        tatoeba = dict.fromkeys(
            s.strip() for s, _ in read_tatoeba_pairs("en-ja") if s.strip()
        )
        tatoeba = sorted(tatoeba, key=lambda t: _stable_key(0, t))
    movies = vader.load_movie_snippets()
    reviews = [t for t, _ in movies.train]
    reviews += vader.unlabelled_texts(REVIEW_SOURCES)
    reviews = sorted(set(reviews), key=lambda t: _stable_key(0, t))
    # Never pretrain on a fine-tuning evaluation text (no overlap exists in
    # the data; this makes it a guarantee).
    evaluation = {t for t, _ in movies.validation + movies.test}
    tatoeba = [t for t in tatoeba if t not in evaluation]
    reviews = [t for t in reviews if t not in evaluation]
    tatoeba = tatoeba[: max_tatoeba or None]
    reviews = reviews[: max_reviews or None]
    everything = sorted(
        set(tatoeba) | set(reviews), key=lambda t: _stable_key(1, t)
    )
    held_out = everything[:validation_texts]
    excluded = set(held_out)
    keyed = [(_stable_key(0, t), t) for t in tatoeba if t not in excluded]
    for copy in range(review_repeats):
        keyed += [
            (_stable_key(f"review{copy}", t), t)
            for t in reviews
            if t not in excluded
        ]
    return [t for _, t in sorted(keyed)], held_out
