"""Offline data for the tutorials: generated tasks and a tiny corpus.

Everything here is generated or written for these tutorials (no download):
copy sequences, dates in several spellings, 40 English-Japanese sentence
pairs with a topic label, a short Japanese story, and small synthetic
images. Every generator is deterministic given its seed.
"""

import datetime

import numpy as np

# (English, Japanese, topic). Written for these tutorials.
TOPICS = ("animals", "food", "weather", "travel")
PARALLEL = (
    ("the cat sleeps on the warm sofa", "猫は暖かいソファで寝ている", 0),
    ("a small dog runs in the park", "小さな犬が公園を走っている", 0),
    ("the bird sings in the morning", "鳥は朝に歌う", 0),
    ("my cat likes fish", "私の猫は魚が好きだ", 0),
    ("the dog waits at the door", "犬はドアのところで待っている", 0),
    ("two birds fly over the river", "二羽の鳥が川の上を飛ぶ", 0),
    ("the old horse eats grass", "年をとった馬が草を食べる", 0),
    ("a black cat crosses the road", "黒い猫が道を渡る", 0),
    ("the fish swim in the pond", "魚が池で泳いでいる", 0),
    ("the rabbit hides under the tree", "うさぎは木の下に隠れる", 0),
    ("i eat rice every morning", "私は毎朝ご飯を食べる", 1),
    ("she drinks green tea", "彼女は緑茶を飲む", 1),
    ("this soup is very hot", "このスープはとても熱い", 1),
    ("we bake bread on sunday", "私たちは日曜日にパンを焼く", 1),
    ("he likes sweet apples", "彼は甘いりんごが好きだ", 1),
    ("the bread is still warm", "パンはまだ温かい", 1),
    ("i drink coffee after lunch", "私は昼食の後にコーヒーを飲む", 1),
    ("my mother cooks fish and rice", "母は魚とご飯を料理する", 1),
    ("they eat noodles at night", "彼らは夜に麺を食べる", 1),
    ("the tea is too sweet", "お茶が甘すぎる", 1),
    ("it is raining today", "今日は雨が降っている", 2),
    ("the wind is cold this morning", "今朝は風が冷たい", 2),
    ("the sky is clear and blue", "空は晴れて青い", 2),
    ("it will snow tomorrow", "明日は雪が降るだろう", 2),
    ("the summer is very hot", "夏はとても暑い", 2),
    ("clouds cover the mountain", "雲が山をおおっている", 2),
    ("the rain stopped at noon", "雨は正午にやんだ", 2),
    ("it is warm in spring", "春は暖かい", 2),
    ("a strong wind blows at night", "夜に強い風が吹く", 2),
    ("the morning is cold and clear", "朝は寒くて晴れている", 2),
    ("we take the train to kyoto", "私たちは京都まで電車に乗る", 3),
    ("the bus leaves at nine", "バスは九時に出発する", 3),
    ("i walk to the station", "私は駅まで歩く", 3),
    ("she flies to tokyo tomorrow", "彼女は明日東京へ飛ぶ", 3),
    ("the train is late today", "今日は電車が遅れている", 3),
    ("he rides a bike to school", "彼は自転車で学校へ行く", 3),
    ("they visit the old temple", "彼らは古いお寺を訪ねる", 3),
    ("the road to the sea is long", "海への道は長い", 3),
    ("i lost my ticket at the station", "私は駅で切符をなくした", 3),
    ("we stay at a small hotel", "私たちは小さなホテルに泊まる", 3),
)

# A short story written for these tutorials (character-level LM data).
JA_STORY = (
    "山のふもとに小さな村がありました。村には古いお寺と川があり、"
    "たくさんの猫が住んでいました。猫は朝になると川のそばで顔を洗い、"
    "昼になると暖かい石の上で寝ていました。"
    "ある日、村に雪が降りました。猫は雪を見たことがなかったので、"
    "とても驚きました。白い雪は冷たくて、足あとが残りました。"
    "猫は足あとを見て、自分の後ろに道ができることを知りました。"
    "春になると雪はとけて、川の水が多くなりました。"
    "村の子どもたちは川で魚を見て、猫といっしょに遊びました。"
    "夏は暑くて、猫は木の下で静かに寝ていました。"
    "秋になると山が赤くなり、村の人は米を集めました。"
    "夜になると空に星が出て、猫は屋根の上で星を見ていました。"
    "猫は星が好きでした。星は何も言いませんが、毎晩同じ場所で光っていました。"
    "冬が来ると、猫はまた雪の上を歩きました。"
    "今度は驚きませんでした。猫は雪の冷たさを知っていたからです。"
)


def ja_corpus():
    """The story plus the Japanese side of `PARALLEL`, one string."""
    sentences = "".join(ja + "。" for _, ja, _ in PARALLEL)
    return JA_STORY + sentences


class Vocab:
    """Token <-> id table. Id 0 is padding; `specials` come next.

    Args:
        tokens: iterable of tokens (characters or words) to index.
        specials: extra reserved tokens, e.g. `("<s>", "</s>")`.
    """

    def __init__(self, tokens, specials=()):
        self.itos = ["<pad>", *specials, *sorted(set(tokens) - set(specials))]
        self.stoi = {t: i for i, t in enumerate(self.itos)}

    def __len__(self):
        return len(self.itos)

    def encode(self, tokens, length=None):
        ids = [self.stoi[t] for t in tokens]
        if length is not None:
            ids = (ids + [0] * length)[:length]
        return ids

    def decode(self, ids, sep=""):
        words = [self.itos[i] for i in ids if i != 0]
        return sep.join(words)


def copy_task(num_examples, length, vocabulary_size=10, seed=0):
    """Random token sequences `(N, length)` in `[1, vocabulary_size)`."""
    rng = np.random.default_rng(seed)
    return rng.integers(1, vocabulary_size, (num_examples, length))


MONTHS = (
    "January February March April May June July August September October "
    "November December"
).split()
WEEKDAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()


def format_date(date, style):
    """One of five human spellings of `date` (style 0-4)."""
    month = MONTHS[date.month - 1]
    if style == 0:
        return f"{month} {date.day}, {date.year}"
    if style == 1:
        return f"{date.day} {month[:3]} {date.year}"
    if style == 2:
        return f"{WEEKDAYS[date.weekday()]}, {month} {date.day}, {date.year}"
    if style == 3:
        return f"{date.year}年{date.month}月{date.day}日"
    return f"{date.day:02d}.{date.month:02d}.{date.year}"


def dates(num_examples, seed=0):
    """`(human_readable, iso)` date pairs, e.g. ("4 Jul 2021", "2021-07-04").

    Dates are uniform over 1950-2049; the style is uniform over five.
    """
    rng = np.random.default_rng(seed)
    first = datetime.date(1950, 1, 1).toordinal()
    last = datetime.date(2049, 12, 31).toordinal()
    pairs = []
    for day, style in zip(
        rng.integers(first, last + 1, num_examples),
        rng.integers(0, 5, num_examples),
    ):
        date = datetime.date.fromordinal(int(day))
        pairs.append((format_date(date, int(style)), date.isoformat()))
    return pairs


def shapes(num_examples, size=16, seed=0, channels=3):
    """Images of 4 classes (square, disc, cross, stripes) and their labels.

    Returns float32 images `(N, size, size, channels)` in [0, 1] and int
    labels `(N,)`. Position, scale and the colour of each shape vary; a
    little noise is added so that no class is one exact template.
    """
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:size, 0:size]
    images = np.zeros((num_examples, size, size, channels), "float32")
    labels = rng.integers(0, 4, num_examples)
    for i, label in enumerate(labels):
        r = rng.uniform(size * 0.2, size * 0.35)
        cy, cx = rng.uniform(r, size - r, 2)
        dy, dx = np.abs(rows - cy), np.abs(cols - cx)
        if label == 0:
            shape = (dy < r) & (dx < r)
        elif label == 1:
            shape = dy**2 + dx**2 < r**2
        elif label == 2:
            shape = ((dy < r / 3) & (dx < r)) | ((dx < r / 3) & (dy < r))
        else:
            shape = (rows % 4 < 2) & (dy < r) & (dx < r)
        colour = rng.uniform(0.3, 1.0, channels)
        images[i] = shape[..., None] * colour
    images += rng.normal(0.0, 0.05, images.shape).astype("float32")
    return np.clip(images, 0.0, 1.0), labels
