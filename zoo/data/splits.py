"""Deterministic, source-disjoint train/validation/test splits of pairs.

Every parallel corpus in the zoo (Tatoeba, a user's TSV file) is split the
same way, by `split_pairs`:

1. Both sides are stripped of surrounding whitespace; pairs with an empty
   side and exact duplicate pairs are dropped.
2. Pairs are grouped by their source sentence.
3. The groups are ordered by a stable hash of `(seed, source sentence)`
   (BLAKE2b, so the order is the same on every machine, Python version and
   `PYTHONHASHSEED`).
4. The first `test_size` groups form the test split and the next
   `validation_size` groups the validation split; each of those keeps one
   pair per source (the first one in corpus order, i.e. the lowest Tatoeba
   id). All remaining groups, with all their alternative translations, form
   the training split, in hash order (so any prefix of it is a random
   sample).

Hence a source sentence never appears in two splits, validation and test
have exactly the documented sizes, and the training split is already
shuffled. The test split is for the final report only: pick checkpoints and
hyperparameters on the validation split, never on the test split.
"""

import hashlib
from typing import NamedTuple

VALIDATION_SIZE = 2000
TEST_SIZE = 2000
SPLIT_SEED = 0

Pair = tuple[str, str]


class Splits(NamedTuple):
    """The three splits, each a list of `(source, target)` string pairs."""

    train: list[Pair]
    validation: list[Pair]
    test: list[Pair]


def _check_size(name, value, allow_none=False):
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(
            f"`{name}` must be a non-negative integer"
            + (" or None" if allow_none else "")
            + f". Received: {name}={value!r}"
        )


def _stable_key(seed, source):
    data = f"{seed}\x00{source}".encode()
    return hashlib.blake2b(data, digest_size=8).digest()


def split_pairs(
    pairs,
    validation_size=VALIDATION_SIZE,
    test_size=TEST_SIZE,
    seed=SPLIT_SEED,
):
    """Splits pairs into source-disjoint train/validation/test splits.

    See the module docstring for the exact procedure.

    Args:
        pairs: iterable of `(source, target)` string pairs, in corpus order.
        validation_size: int. Number of validation pairs (distinct sources).
        test_size: int. Number of test pairs (distinct sources).
        seed: int. Seed of the stable hash that orders the sources.

    Returns:
        A `Splits(train, validation, test)` named tuple of lists of pairs.
    """
    _check_size("validation_size", validation_size)
    _check_size("test_size", test_size)
    _check_size("seed", seed)
    groups = {}
    for source, target in pairs:
        source, target = source.strip(), target.strip()
        if not source or not target:
            continue
        targets = groups.setdefault(source, [])
        if target not in targets:
            targets.append(target)
    if len(groups) <= validation_size + test_size:
        raise ValueError(
            f"Only {len(groups)} distinct source sentences, not enough for "
            f"test_size={test_size} + validation_size={validation_size} "
            "with some left over for training."
        )
    order = sorted(groups, key=lambda source: _stable_key(seed, source))
    test_sources = order[:test_size]
    validation_sources = order[test_size : test_size + validation_size]
    train_sources = order[test_size + validation_size :]
    return Splits(
        train=[(s, t) for s in train_sources for t in groups[s]],
        validation=[(s, groups[s][0]) for s in validation_sources],
        test=[(s, groups[s][0]) for s in test_sources],
    )


def limit_splits(
    splits, max_train_pairs=None, max_eval_pairs=None, max_chars=None
):
    """Shrinks splits for small presets, deterministically.

    Args:
        splits: a `Splits` tuple.
        max_train_pairs: int or None. Keep this many training pairs (a prefix
            of the already shuffled training split).
        max_eval_pairs: int or None. Keep this many validation and this many
            test pairs (prefixes).
        max_chars: int or None. Drop pairs whose source or target is longer
            than this many characters. Applied to all three splits after
            splitting, so a sentence never changes split; with it, reported
            test scores are on the filtered test subset.

    Returns:
        A new `Splits` tuple.
    """
    _check_size("max_train_pairs", max_train_pairs, allow_none=True)
    _check_size("max_eval_pairs", max_eval_pairs, allow_none=True)
    _check_size("max_chars", max_chars, allow_none=True)

    def shrink(split, limit):
        if max_chars is not None:
            split = [
                (s, t)
                for s, t in split
                if len(s) <= max_chars and len(t) <= max_chars
            ]
        return split if limit is None else split[:limit]

    return Splits(
        train=shrink(splits.train, max_train_pairs),
        validation=shrink(splits.validation, max_eval_pairs),
        test=shrink(splits.test, max_eval_pairs),
    )


def load_tsv_pairs(
    path,
    validation_size=VALIDATION_SIZE,
    test_size=TEST_SIZE,
    seed=SPLIT_SEED,
    max_train_pairs=None,
    max_eval_pairs=None,
    max_chars=None,
):
    """Loads a user's UTF-8 TSV file of `source<TAB>target` lines and splits it.

    Blank lines are skipped; every other line must have exactly two
    tab-separated, non-empty fields. The split is `split_pairs` (source
    disjoint, deterministic), then `limit_splits`.

    Args:
        path: path of the TSV file.
        validation_size, test_size, seed: see `split_pairs`.
        max_train_pairs, max_eval_pairs, max_chars: see `limit_splits`.

    Returns:
        A `Splits(train, validation, test)` named tuple of lists of pairs.
    """
    pairs = []
    with open(path, encoding="utf-8") as f:
        for line_number, line in enumerate(f, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            fields = line.split("\t")
            if len(fields) != 2 or not all(x.strip() for x in fields):
                raise ValueError(
                    f"{path}, line {line_number}: expected `source<TAB>target`"
                    f" with two non-empty fields. Received: {line!r}"
                )
            pairs.append((fields[0], fields[1]))
    splits = split_pairs(pairs, validation_size, test_size, seed)
    return limit_splits(splits, max_train_pairs, max_eval_pairs, max_chars)
