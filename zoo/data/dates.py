"""Human-readable dates -> ISO 8601: the classic attention-alignment demo.

A generated translation task (Bahdanau-style attention learns a visibly
monotone-but-reordering alignment): the source is a date written by
`babel.dates.format_date` in one of several locales and styles, the target
is its ISO 8601 form. For example `("July 4, 2021", "2021-07-04")`,
`("2021年7月4日", "2021-07-04")`, `("4. Juli 2021", "2021-07-04")`.

Dates are drawn uniformly from 1950-01-01 to 2049-12-31, so the two-digit
years of `en_US` short dates (`7/4/21`) are unambiguous (50-99 -> 19xx,
00-49 -> 20xx). No style writes day-before-month with slashes, so every
source string has exactly one target. The output is fully determined by the
seed (`random.Random` and `datetime` only).
"""

import datetime
import random

from babel.dates import format_date

# (locale, babel format): a named style or an explicit CLDR pattern.
DATE_FORMATS = (
    ("en_US", "full"),  # Sunday, July 4, 2021
    ("en_US", "long"),  # July 4, 2021
    ("en_US", "medium"),  # Jul 4, 2021
    ("en_US", "short"),  # 7/4/21
    ("en_GB", "long"),  # 4 July 2021
    ("en_GB", "d MMM yyyy"),  # 4 Jul 2021
    ("ja_JP", "long"),  # 2021年7月4日
    ("ja_JP", "full"),  # 2021年7月4日日曜日
    ("ja_JP", "medium"),  # 2021/07/04
    ("de_DE", "long"),  # 4. Juli 2021
    ("de_DE", "medium"),  # 04.07.2021
    ("fr_FR", "long"),  # 4 juillet 2021
    ("es_ES", "long"),  # 4 de julio de 2021
)
FIRST_DATE = datetime.date(1950, 1, 1)
LAST_DATE = datetime.date(2049, 12, 31)


def generate_dates(num_examples, seed=0, formats=DATE_FORMATS):
    """Generates `(human_readable_date, iso_8601_date)` pairs.

    Args:
        num_examples: int. Number of pairs to generate.
        seed: int. Seed of the `random.Random` generator; the same seed
            always gives the same pairs.
        formats: sequence of `(locale, format)` tuples passed to
            `babel.dates.format_date`; each pair uses one chosen uniformly.

    Returns:
        A list of `num_examples` `(source, target)` string pairs, e.g.
        `("July 4, 2021", "2021-07-04")`.
    """
    if (
        isinstance(num_examples, bool)
        or not isinstance(num_examples, int)
        or num_examples < 0
    ):
        raise ValueError(
            "`num_examples` must be a non-negative integer. "
            f"Received: num_examples={num_examples!r}"
        )
    if not formats:
        raise ValueError(
            f"`formats` must not be empty. Received: formats={formats!r}"
        )
    rng = random.Random(seed)
    span = (LAST_DATE - FIRST_DATE).days
    pairs = []
    for _ in range(num_examples):
        date = FIRST_DATE + datetime.timedelta(days=rng.randint(0, span))
        locale, pattern = formats[rng.randrange(len(formats))]
        human = format_date(date, pattern, locale=locale)
        pairs.append((human, date.isoformat()))
    return pairs
