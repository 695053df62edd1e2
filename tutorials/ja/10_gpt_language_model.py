# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 10. GPT 型の言語モデル
#
# エンコーダを捨ててデコーダだけを残し、因果的な自己アテンションのブロックを積み重ねて、すべての位置で**次のトークン**を予測するように学習させる。それが GPT です。ここでは短い日本語の物語で文字単位の小さなモデルを学習させ、文の続きを書かせます。サンプリングには*温度*を使います。
#
# 鍵は因果（先読み防止）マスクです。位置 `t` は `t` 以前のトークンしか見えないので、1 回の順伝播で全位置を同時に学習でき、しかもどの位置も自分の答えを覗き見できません。

# %%
import os
import sys

sys.path.insert(0, os.path.abspath(".."))  # tutorials/, for `exercises`
import exercises  # noqa: F401  (first: no TensorFlow start-up noise)

# isort: split

import keras
import numpy as np
from keras import ops

import keras_attn
from exercises import checks
from exercises import data
from exercises import solutions
from exercises.common import pick
from exercises.common import show
from keras_attn.visualize import plot_attention_heads

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)

# %% [markdown]
# ## 文字と窓
#
# 1 文字が 1 トークンです。学習例は長さ `T + 1` の窓で、モデルは最初の `T` 文字を読み、1 文字ずらした `T` 文字を予測します。

# %% [markdown]
# **演習。** `T + 1` 文字の窓を、モデルが読む部分と予測すべき部分に切り分けてください。空欄は (1) と (2) です。関数の下のチェックが、ノートブックとは大きさの異なる入力であなたの関数を呼び出し、正しければ ✓ を表示します。誤りがあれば、何が違うのかを具体的に示すヒントを出して、ノートブックを止めます。模範解答は `tutorials/exercises/solutions.py` にあります。ノートブックが模範解答を使うのは、テストで `KERAS_ATTN_TUTORIAL_SOLUTIONS=1` が設定されたときだけで、その場合はそのことを表示します。その次のセルで、物語の文章に同じことをします。


# %%
def split_window(windows):
    """(N, T+1) windows -> inputs (N, T), targets (N, T)."""
    inputs = ___  # ___ (1) ___ what the model reads
    targets = ___  # ___ (2) ___ what it must predict, position by position
    return inputs, targets


# yours; the reference only if KERAS_ATTN_TUTORIAL_SOLUTIONS=1 (tests)
split_window = solutions.if_requested(split_window)
checks.check_split_window(split_window)

# %%
text = data.ja_corpus()
vocab = data.Vocab(text)
ids = np.array(vocab.encode(text))
T = 32
starts = np.arange(0, len(ids) - T - 1, pick(8, 1))
windows = np.stack([ids[s : s + T + 1] for s in starts])  # (N, T+1)
inputs, targets = windows[:, :-1], windows[:, 1:]  # (N, T) each
print(len(text), "characters,", len(vocab), "distinct;", len(inputs), "windows")
print(vocab.decode(inputs[0]), "->", vocab.decode(targets[0][-1:]))

# %% [markdown]
# ## 因果マスクを手で作り、ライブラリと比べる

# %%
causal = np.tril(np.ones((T, T), bool))  # query i may attend keys j <= i
lib_causal = ops.convert_to_numpy(keras_attn.ops.causal_mask(T))
np.testing.assert_array_equal(causal, lib_causal)
print(causal[:5, :5].astype(int))

# %% [markdown]
# 単一ヘッドの因果アテンションは `keras.ops` で 3 行です。ライブラリの中核と照合します。

# %%
x = rng.normal(size=(2, T, 16)).astype("float32")
scores = ops.matmul(x, ops.swapaxes(x, 1, 2)) / np.sqrt(16)  # (B, T, T)
weights = ops.softmax(ops.where(causal, scores, -1e9), axis=-1)
ours = ops.matmul(weights, x)  # (B, T, 16)
lib = keras_attn.ops.scaled_dot_product_attention(x, x, x, mask=causal)
np.testing.assert_allclose(ours, lib, rtol=1e-5, atol=1e-5)
print("causal attention matches keras_attn.ops.scaled_dot_product_attention")

# %% [markdown]
# ## モデル
#
# 学習される位置埋め込み付きのトークン埋め込み、クロスアテンションのない pre-norm のデコーダブロック 2 段（GPT-2 と同じ構成）、そしてトークン埋め込みと重みを共有する出力層（`compute_logits`）です。

# %%
D = 64


class GPT(keras.Model):
    """Decoder-only LM: embeddings, decoder blocks, tied output layer."""

    def __init__(self, vocabulary_size, length, dim, **kwargs):
        super().__init__(**kwargs)
        self.embed = keras_attn.TokenAndPositionEmbedding(
            vocabulary_size, length, dim
        )
        self.decoder = keras_attn.TransformerDecoder(
            2,
            num_heads=4,
            intermediate_dim=4 * dim,
            dropout=0.1,
            norm_first=True,
            activation="gelu",
        )  # causal self-attention only

    def call(self, tokens, training=None):
        x = self.embed(tokens)  # (B, T, D)
        x = self.decoder(x, training=training)  # (B, T, D)
        return self.embed.compute_logits(x)  # (B, T, V), tied weights


gpt = GPT(len(vocab), T, D)
gpt.compile(
    keras.optimizers.Adam(3e-3),
    keras.losses.SparseCategoricalCrossentropy(from_logits=True),
)
history = gpt.fit(inputs, targets, batch_size=32, epochs=pick(1, 30), verbose=0)
print("final loss", round(history.history["loss"][-1], 3))

# %% [markdown]
# ## 因果性のチェック
#
# 窓の後半を書き換えても、前半の予測は動いてはいけません。この性質のおかげで、1 回の順伝播で全位置を公正に学習できます。

# %%
changed = inputs[:1].copy()
changed[0, T // 2 :] = rng.integers(1, len(vocab), T - T // 2)
before = ops.convert_to_numpy(gpt(inputs[:1]))
after = ops.convert_to_numpy(gpt(changed))
np.testing.assert_allclose(before[0, : T // 2], after[0, : T // 2], atol=1e-5)
assert not np.allclose(before[0, T // 2], after[0, T // 2], atol=1e-5)
print("earlier predictions unchanged, later ones changed")


# %% [markdown]
# ## 温度付きサンプリング
#
# モデルは次の文字のロジット `z` を出します。ソフトマックスの前に温度 `τ` で割ると、分布は鋭く（`τ < 1`）も平たく（`τ > 1`）もなります: `p = softmax(z / τ)`。`τ → 0` は貪欲デコーディングです。


# %% [markdown]
# **演習。** ロジットのベクトル 1 本について `p = softmax(z / τ)` を書いてみましょう。空欄は、(1) 温度 τ を適用したロジットと、(2) 正規化する前の確率の 2 つです。関数の下のチェックが、ノートブックとは大きさの異なる入力であなたの関数を呼び出し、正しければ ✓ を表示します。誤りがあれば、何が違うのかを具体的に示すヒントを出して、ノートブックを止めます。模範解答は `tutorials/exercises/solutions.py` にあります。ノートブックが模範解答を使うのは、テストで `KERAS_ATTN_TUTORIAL_SOLUTIONS=1` が設定されたときだけで、その場合はそのことを表示します。その次のセルでは、同じ式を `ops.softmax` と照合します。


# %%
def next_char_probs(logits, temperature):
    """Logits (V,) -> probabilities (V,) at temperature τ."""
    z = ___  # ___ (1) ___ the logits at temperature τ
    z = z - z.max()  # stability: the largest becomes 0
    p = ___  # ___ (2) ___ not yet normalised
    return p / p.sum()


# yours; the reference only if KERAS_ATTN_TUTORIAL_SOLUTIONS=1 (tests)
next_char_probs = solutions.if_requested(next_char_probs)
checks.check_next_char_probs(next_char_probs)


# %%
def next_char_probs(logits, temperature):
    z = logits / temperature
    z = z - z.max()  # stability
    p = np.exp(z)
    return p / p.sum()


logits = rng.normal(size=8).astype("float32") * 3
for tau in (0.5, 1.0, 2.0):
    p = next_char_probs(logits, tau)
    ref = ops.convert_to_numpy(ops.softmax(logits / tau))
    np.testing.assert_allclose(p, ref, rtol=1e-5)
    print(f"τ={tau}: max p = {p.max():.2f}")


def generate(prompt, length, temperature, seed=0):
    """The text, and the mean entropy (bits) of the distributions that
    each character was sampled from."""
    sampler = np.random.default_rng(seed)
    out, entropies = vocab.encode(prompt), []
    for _ in range(length):
        window = out[-T:]
        n = len(window)
        x = np.array([window + [0] * (T - n)])  # right-pad; causal => harmless
        logits = ops.convert_to_numpy(gpt(x))[0, n - 1]  # (V,)
        logits[0] = -np.inf  # never sample padding
        p = next_char_probs(logits.astype("float64"), temperature)
        entropies.append(-np.sum(p[p > 0] * np.log2(p[p > 0])))
        out.append(int(sampler.choice(len(p), p=p)))
    return vocab.decode(out), float(np.mean(entropies))


def ngrams(s, n):
    return [s[j : j + n] for j in range(len(s) - n + 1)]


story_8grams = set(ngrams(text, 8))
prompt, length, seeds = "猫は", pick(10, 60), range(pick(2, 5))
print("τ     entropy  different  distinct  8-grams copied")
print("      (bits)   texts      3-grams   from the story")
for tau in (0.3, 0.8, 1.5):
    runs = [generate(prompt, length, tau, seed) for seed in seeds]
    texts = [t[len(prompt) :] for t, _ in runs]  # the continuations
    grams = [g for t in texts for g in ngrams(t, 3)]
    copied = np.mean([g in story_8grams for t in texts for g in ngrams(t, 8)])
    print(
        f"{tau:<5} {np.mean([h for _, h in runs]):7.2f}"
        f"  {len(set(texts))} of {len(texts)}"
        f"     {len(set(grams)) / len(grams):7.0%}  {copied:14.0%}"
    )
    for t in texts[:2]:
        print("     ", prompt + t)

# %% [markdown]
# 温度の効果を、τ ごとに複数のシードで生成して測ります。表の列は、各文字をサンプリングした分布のエントロピー（0 ビットなら貪欲デコーディング）、続きの文章のうち互いに異なるものの数、文字 3-gram のうち重複しないものの割合、そして 8-gram のうち物語の中にそのまま現れるものの割合です。温度が低いと最も確からしい道から外れないので、シードが違っても同じ文章になり、物語をそのまま暗唱します。温度が高いと確率が広く配られるので、シードごとに文章が分かれ、モデルは新しい言葉を作り出し始めます（誤字も増えます）。文脈を 1 つ決めれば、エントロピーは必ず τ とともに増えます。一方、ほかの列がどこまで動くかは、モデルが物語をどれだけ学習したかによります。小さいモードのモデルは学習していないので、出てくるのは雑音です。
#
# ## ヘッドが見ているもの
#
# 最初のブロックの、最初の窓に対するアテンションの重みです。どれも下三角で、ヘッドごとに独自のパターンを持ちます（学習後は、直前の文字を見るヘッドや、語の頭を見るヘッドが現れます）。

# %%
_, scores = gpt.decoder(gpt.embed(inputs[:1]), return_attention_scores=True)
first_block_self = ops.convert_to_numpy(scores[0][0])[0, :, :12, :12]
chars = list(vocab.decode(inputs[0][:12]))
show(plot_attention_heads(first_block_self, chars, chars, ncols=4))

# %% [markdown]
# **まとめ。** GPT = 埋め込み + 因果的自己アテンションのブロック + 重み共有の出力層で、次トークン予測で学習する。因果マスクのおかげで 1 回の順伝播で全位置を学習でき、温度は無難さと多様さのバランスを決める。
#
# 本格的な版（サブワードのトークン、ジェイン・オースティンの長編小説、`gpt2` と `modern` の 2 種類のブロック、KV キャッシュを使う生成、配信用の SavedModel）は、zoo のモデルとして `python -m zoo train gpt` で学習できます。日本語で学習するなら `python -m zoo train gpt --data tatoeba-ja`（Tatoeba の日本語の文）です。詳しくは `docs/zoo_gpt.md` を見てください。
