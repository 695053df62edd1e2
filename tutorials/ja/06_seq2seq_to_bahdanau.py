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
# # 6. seq2seq → Peeky → Bahdanau アテンション
#
# RNN エンコーダ・デコーダの 3 つの世代を、同じ課題で比べます。課題は日付の書き換えです: `Sunday, July 4, 2021` や `4 Jul 2021`、`2021年7月4日` を `2021-07-04` に直します。『ゼロから作る Deep Learning ❷』で日付変換と Peeky を学んだ方には、おなじみの流れでしょう。
#
# 1. **seq2seq**（Sutskever ら 2014）: デコーダはエンコーダの最終状態から出発し、得られる情報はそれだけ。
# 2. **Peeky**: 最終状態をデコーダの*すべての*ステップにも入力し、情報が薄れないようにする。
# 3. **Bahdanau アテンション**（2015）: 各ステップでエンコーダの全状態を `vᵀ tanh(W_q q + W_k k)` で採点し、その重み付き平均を読む。
#
# アテンションの重みは**アライメント**（対応付け）になります。各出力文字が、入力のどの文字から読み取られたかがわかります。

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
from keras_attn.visualize import plot_attention

keras.utils.set_random_seed(0)

# %% [markdown]
# ## データ

# %%
train = data.dates(pick(256, 20000), seed=0)
test = data.dates(pick(32, 1000), seed=1)
vocab = data.Vocab(
    (c for pair in train + test for text in pair for c in text),
    specials=("<s>",),
)
S_LEN = max(len(s) for s, _ in train + test)
T_LEN = 10  # YYYY-MM-DD


def encode(pairs):
    source = np.array([vocab.encode(s, S_LEN) for s, _ in pairs])  # (N, S)
    labels = np.array([vocab.encode(t) for _, t in pairs])  # (N, T)
    start = np.full((len(pairs), 1), vocab.stoi["<s>"])
    decoder_in = np.concatenate([start, labels[:, :-1]], axis=1)  # (N, T)
    return source, decoder_in, labels


train_src, train_dec, train_y = encode(train)
test_src, test_dec, test_y = encode(test)
for s, t in train[:3]:
    print(f"{s:32s} -> {t}")

# %% [markdown]
# ## 3 つのデコーダを 1 つの関数で
#
# ソース側の埋め込みは `mask_zero=True` です。エンコーダの GRU はパディングを読み飛ばし、アテンション層にはパディングマスクが自動で届くので、パディングに重みが割り振られることはありません。

# %%
UNITS = 64


def build(kind):
    src = keras.Input((S_LEN,), dtype="int32")
    tgt = keras.Input((T_LEN,), dtype="int32")
    x = keras.layers.Embedding(len(vocab), 32, mask_zero=True)(src)
    states, final = keras.layers.GRU(
        UNITS, return_sequences=True, return_state=True
    )(x)  # (B, S, U), (B, U)
    y = keras.layers.Embedding(len(vocab), 32)(tgt)  # (B, T, 32)
    if kind == "peeky":
        peek = keras.layers.RepeatVector(T_LEN)(final)  # (B, T, U)
        y = keras.layers.Concatenate()([y, peek])
    y = keras.layers.GRU(UNITS, return_sequences=True)(y, initial_state=final)
    if kind == "peeky":
        y = keras.layers.Concatenate()([y, peek])
    if kind == "attention":
        context = keras_attn.BahdanauAttention(UNITS, name="attention")(
            y, states
        )  # (B, T, U)
        y = keras.layers.Concatenate()([y, context])
    logits = keras.layers.Dense(len(vocab))(y)  # (B, T, V)
    model = keras.Model([src, tgt], logits)
    model.compile(
        keras.optimizers.Adam(3e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


# %% [markdown]
# ## 学習とデコード
#
# 貪欲デコーディングでは、予測した文字を次のステップのデコーダ入力として戻します。テストデータ全体をまとめて処理します。10 文字すべてが合っている場合だけ正解とします。


# %%
def greedy(model, source):
    decoder_in = np.zeros((len(source), T_LEN), "int64")
    decoder_in[:, 0] = vocab.stoi["<s>"]
    for t in range(T_LEN):
        logits = model.predict_on_batch((source, decoder_in))  # (N, T, V)
        next_ids = logits[:, t].argmax(axis=-1)
        if t + 1 < T_LEN:
            decoder_in[:, t + 1] = next_ids
    return np.concatenate([decoder_in[:, 1:], next_ids[:, None]], axis=1)


models = {}
for kind in ("seq2seq", "peeky", "attention"):
    models[kind] = model = build(kind)
    model.fit(
        (train_src, train_dec),
        train_y,
        batch_size=64,
        epochs=pick(1, 10),
        verbose=0,
    )
    exact = (greedy(model, test_src) == test_y).all(axis=1).mean()
    print(f"{kind:10s} exact-match accuracy {exact:.3f}")

# %% [markdown]
# ## 加法アテンションを手で計算する
#
# `e_ts = vᵀ tanh(W_q q_t + W_k k_s)`、`s` 方向のマスク付きソフトマックス、エンコーダ状態の重み付き和。学習済みの層の重みと、その層が実際に受け取った状態を使って照合します。

# %% [markdown]
# **演習。** まずはスコアを自分で書いてみましょう。デコーダのすべての時刻 t とエンコーダのすべての位置 s について一度に計算します。空欄は、(1) 射影したキー（`q + k` が `(B, T, S, units)` にブロードキャストされるよう、クエリの軸を足したもの）と、(2) スコア `vᵀ tanh(q + k)` の 2 つです。関数の下のチェックが、ノートブックとは大きさの異なる入力であなたの関数を呼び出し、正しければ ✓ を表示します。誤りがあれば、何が違うのかを具体的に示すヒントを出して、ノートブックを止めます。模範解答は `tutorials/exercises/solutions.py` にあります。ノートブックが模範解答を使うのは、テストで `KERAS_ATTN_TUTORIAL_SOLUTIONS=1` が設定されたときだけで、その場合はそのことを表示します。その次のセルでは、学習済みの層の重みを使って同じ計算をします。


# %%
def additive_scores(query, keys, w_q, w_k, v):
    """e_ts = vᵀ tanh(W_q q_t + W_k k_s) for every pair: (B, T, S)."""
    q = ops.matmul(query, w_q)[:, :, None, :]  # (B, T, 1, units)
    k = ___  # ___ (1) ___ W_k k_s, shape (B, 1, S, units)
    return ___  # ___ (2) ___ vᵀ tanh(q + k), shape (B, T, S)


# yours; the reference only if KERAS_ATTN_TUTORIAL_SOLUTIONS=1 (tests)
additive_scores = solutions.if_requested(additive_scores)
checks.check_additive_scores(additive_scores)

# %%
model = models["attention"]
layer = model.get_layer("attention")
dec_states, enc_states = keras.Model(model.inputs, layer.input)(
    (test_src[:4], test_dec[:4])
)
w_q = ops.convert_to_numpy(layer.query_dense.kernel)  # (U, units)
w_k = ops.convert_to_numpy(layer.key_dense.kernel)  # (U, units)
v = ops.convert_to_numpy(layer.score_vector)  # (units,)
q = ops.matmul(dec_states, w_q)[:, :, None, :]  # (B, T, 1, units)
k = ops.matmul(enc_states, w_k)[:, None, :, :]  # (B, 1, S, units)
scores = ops.matmul(ops.tanh(q + k), v)  # (B, T, S)
real = test_src[:4] != 0  # (B, S)
scores = ops.where(real[:, None, :], scores, -1e9)
weights = ops.softmax(scores, axis=-1)
context = ops.matmul(weights, enc_states)  # (B, T, U)

lib_context, lib_weights = layer(
    dec_states, enc_states, value_mask=real, return_attention_scores=True
)
np.testing.assert_allclose(context, lib_context, rtol=1e-4, atol=1e-5)
np.testing.assert_allclose(weights, lib_weights, rtol=1e-4, atol=1e-6)
print("hand-built additive attention matches keras_attn.BahdanauAttention")

# %% [markdown]
# ## アライメント
#
# 行が出力の文字、列が入力の文字です。十分に学習すると、年の数字は年を、月の数字は月の*名前*（または数字）を、日は日を見るようになります。入力の並び順が何であってもです。小さいモードでは、重みはまだほぼ一様です。

# %%
for i in range(pick(1, 3)):
    source_text, target_text = test[i]
    show(
        plot_attention(
            lib_weights[i, :, : len(source_text)],
            list(target_text),
            list(source_text),
            title=source_text,
        )
    )

# %% [markdown]
# **まとめ。** seq2seq は忘れ、Peeky は思い出させ、アテンションは見に行く。アライメントの図が、*どこを*見ているかを教えてくれます。
