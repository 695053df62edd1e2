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
# # 1. なぜアテンションなのか
#
# 古典的なエンコーダ・デコーダは、入力全体を RNN で読み込み、その最後の隠れ状態という**固定長のベクトル 1 本**だけをデコーダに渡します。入力が長くなっても、デコーダが必要とする情報はすべてこのベクトルに詰め込まなければなりません。これが「ボトルネック」です。
#
# アテンション（注意機構）はこの制約を取り払います。デコーダは出力の各ステップで、エンコーダの**すべての**状態を見直し、必要な状態の重み付き平均を取り出します。
#
# このノートブックでは、人間には簡単な課題「24 桁のランダムな数字列をそのまま写す」でボトルネックを目に見える形にします。モデルは 2 つ、大きさも学習条件も同じで、違いはアテンション層が 1 つあるかどうかだけです。

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
from exercises.common import figure
from exercises.common import pick
from exercises.common import show

keras.utils.set_random_seed(0)
LENGTH, VOCAB, UNITS = 24, 10, 32
NUM_TRAIN = pick(256, 8000)
EPOCHS = pick(1, 12)


# %% [markdown]
# ## 課題
#
# 入力は 1〜9 の数字です。デコーダは *teacher forcing*（教師強制）で学習します。ステップ `t` では正解の 1 つ前の数字（先頭は開始記号 0）を受け取り、`t` 番目の数字を当てます。当てるためには、`t` 番目の数字を覚えていなければなりません。


# %%
def make_batch(num, seed):
    source = data.copy_task(num, LENGTH, VOCAB, seed=seed)  # (N, L)
    decoder_in = np.concatenate(
        [np.zeros((num, 1), "int64"), source[:, :-1]], axis=1
    )  # (N, L), shifted right, 0 = start
    return (source, decoder_in), source


train_x, train_y = make_batch(NUM_TRAIN, seed=1)
test_x, test_y = make_batch(500, seed=2)
print("source  ", train_x[0][0])
print("decoder ", train_x[1][0])
print("target  ", train_y[0])


# %% [markdown]
# ## 2 つのモデル
#
# どちらも数字を埋め込み、GRU のエンコーダと、エンコーダの最終状態から始まる GRU のデコーダを持ちます。アテンション版では、デコーダの各状態がエンコーダの全状態に注意を向け（Luong ら 2015 の内積スコア）、得られた文脈ベクトルを出力層に渡します。


# %%
def build(use_attention):
    source = keras.Input((LENGTH,), dtype="int32")
    decoder_in = keras.Input((LENGTH,), dtype="int32")
    embed = keras.layers.Embedding(VOCAB, 16)
    states, final = keras.layers.GRU(
        UNITS, return_sequences=True, return_state=True
    )(embed(source))  # (B, L, U), (B, U)
    dec = keras.layers.GRU(UNITS, return_sequences=True)(
        embed(decoder_in), initial_state=final
    )  # (B, L, U)
    if use_attention:
        context = keras_attn.LuongAttention(score="dot")(dec, states)
        dec = keras.layers.Concatenate()([dec, context])  # (B, L, 2U)
    logits = keras.layers.Dense(VOCAB)(dec)  # (B, L, V)
    model = keras.Model([source, decoder_in], logits)
    model.compile(
        keras.optimizers.Adam(3e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


models = {"fixed vector": build(False), "attention": build(True)}
for name, model in models.items():
    print(f"{name:12s} {model.count_params():6d} parameters")

# %%
for name, model in models.items():
    model.fit(*(train_x, train_y), batch_size=64, epochs=EPOCHS, verbose=0)
    loss, accuracy = model.evaluate(test_x, test_y, verbose=0)
    print(f"{name:12s} digit accuracy {accuracy:.3f}")

# %% [markdown]
# ## 固定長ベクトルはどこで失敗するか
#
# 位置ごとの正解率を見ると違いがはっきりします。アテンションなしのモデルは、最初の数桁と、最終状態がまだ覚えている最後の数桁は写せますが、その間は当て推量になります。アテンションありのモデルには、位置による難しさの差がありません。（小さいモードではほとんど学習していないので、2 本の曲線から読み取れることはあまりありません。）

# %%
fig = figure(6, 3)
ax = fig.add_subplot()
for name, model in models.items():
    predicted = ops.convert_to_numpy(ops.argmax(model(test_x), axis=-1))
    ax.plot((predicted == test_y).mean(axis=0), marker="o", label=name)
ax.axhline(1 / 9, color="gray", linestyle=":", label="chance")
ax.set_xlabel("position in the sequence")
ax.set_ylabel("accuracy")
ax.legend()
show(fig)

# %% [markdown]
# ## アテンション層の中身
#
# デコーダの状態 `d_t` とエンコーダの状態 `h_1..h_L` に対して、スコアは `e_ts = d_t · h_s`、重みは `α_t = softmax(e_t)`、文脈ベクトルは `c_t = Σ_s α_ts h_s` です。`keras.ops` なら 3 行で書けます。学習済みモデルの中の層と `allclose` で突き合わせます。
#
# **演習。** その 3 行を書いてみましょう。`attention_context` の空欄 (1)〜(3) を埋めて、セルを実行してください。関数の下のチェックが、ノートブックとは大きさの異なる入力であなたの関数を呼び出し、正しければ ✓ を表示します。誤りがあれば、何が違うのかを具体的に示すヒントを出して、ノートブックを止めます。模範解答は `tutorials/exercises/solutions.py` にあります。ノートブックが模範解答を使うのは、テストで `KERAS_ATTN_TUTORIAL_SOLUTIONS=1` が設定されたときだけで、その場合はそのことを表示します。


# %%
def attention_context(dec, states):
    """Decoder states (B, T, U) attend over encoder states (B, S, U)."""
    scores = ops.matmul(dec, ___)  # ___ (1) ___ e_ts = d_t · h_s: (B, T, S)
    weights = ops.softmax(scores, axis=___)  # ___ (2) ___ over positions s
    context = ___  # ___ (3) ___ c_t = Σ_s α_ts h_s: (B, T, U)
    return context, weights


# yours; the reference only if KERAS_ATTN_TUTORIAL_SOLUTIONS=1 (tests)
attention_context = solutions.if_requested(attention_context)
checks.check_attention_context(attention_context)

# %%
model = models["attention"]
layer = next(
    x for x in model.layers if isinstance(x, keras_attn.LuongAttention)
)
probe = keras.Model(model.inputs, layer.input)  # (decoder, encoder) states
dec, states = probe((test_x[0][:4], test_x[1][:4]))

context, weights = attention_context(dec, states)  # your function

lib_context, lib_weights = layer(dec, states, return_attention_scores=True)
np.testing.assert_allclose(context, lib_context, rtol=1e-5, atol=1e-5)
np.testing.assert_allclose(weights, lib_weights, rtol=1e-5, atol=1e-6)
print("hand-built attention matches keras_attn.LuongAttention")

# %% [markdown]
# 十分に学習すると、出力ステップ `t` はほぼ入力 `t` だけに注意を向けます（対角線）。デコーダは数字を「覚えておく」必要がなくなり、「見に行けば」よくなったのです。

# %%
show(keras_attn.visualize.plot_attention(lib_weights[0], title="copy task"))

# %% [markdown]
# **まとめ。** 固定長ベクトルは入力のすべてを抱え込まなければなりませんが、アテンションなら各出力ステップが入力の状態を直接読みに行けます。以降のチュートリアルでは、この仕組みを一から組み立てていきます。
