# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 0b. それぞれの部品はなぜあるのか
#
# ほかのチュートリアルでは Transformer の部品を 1 つずつ組み立て、`keras_attn` と照合します。このノートブックでは、それぞれの部品が*なぜ*あるのかを問い、どの「なぜ」にも、値を変えて実行し直せる計算で答えます。
#
# 1. なぜ W_q・W_k・W_v という学習する射影があるのか。そもそもなぜバリューが必要なのか
# 2. なぜヘッドを複数にするのか。論文の 512 = 8 × 64 は何を意味するのか
# 3. 残差結合（「E + ΔE」はどこにあるのか）、Add & Norm、フィードフォワード層、レイヤー正規化
# 4. 畳み込みとプーリング（チュートリアル 7 の SE と 8 の SAGAN の前提知識）
# 5. 加法アテンションと乗法アテンション（チュートリアル 6 と Transformer の違い）
#
# 何も学習しないので、CPU でもすぐに動きます。

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
from exercises import solutions
from exercises.common import figure
from exercises.common import show
from keras_attn.visualize import plot_attention_heads

LANG = os.path.basename(os.getcwd())  # "en" or "ja": labels of the figures


def tr(en, ja):
    """The label in this notebook's language."""
    return ja if LANG == "ja" else en


def attention(q, k, v, scale=1.0):
    """softmax(q kᵀ · scale) v and the weights, as NumPy arrays."""
    out, w = keras_attn.ops.scaled_dot_product_attention(
        q, k, v, scale=scale, return_weights=True
    )
    return ops.convert_to_numpy(out), ops.convert_to_numpy(w)


keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. なぜ W_q と W_k を学習するのか
#
# 射影がなければ、単語 i から単語 j へのスコアは x_i · x_j です。すると、どんな単語であっても次の 2 つが成り立ってしまいます。
#
# * スコアが**対称**になる。i が j に向ける注意と j が i に向ける注意がまったく同じになりますが、「形容詞が自分のかかる名詞を探す」ような関係は対称ではありません。
# * たいていの単語は**自分自身と最も高いスコア**になる（x · x = |x|² なのに対し、異なるランダムなベクトルどうしはほぼ直交します）。

# %%
x = rng.normal(size=(6, 16)).astype("float32")  # 6 words, 16 features
raw = x @ x.T  # (6, 6) scores without projections
print("symmetric:", np.allclose(raw, raw.T))
print("each word's best match is itself:", raw.argmax(-1).tolist())

# %% [markdown]
# q = x W_q、k = x W_k とすれば、スコアは x_i W_q W_kᵀ x_jᵀ という任意の双線形形式になり、非対称にもできます。次の行列の組は、モデルが学習で獲得しうるものを手で選んだ例で、各単語が**1 つ前の**単語に注意を向けます。特徴は位置の one-hot で、W_q はそのまま、W_k は 1 つずらします。

# %%
T = 5
positions = np.eye(T, dtype="float32")  # word i has feature i
w_q = np.eye(T, dtype="float32") * 4.0  # 4: a sharp softmax
w_k = np.eye(T, k=1, dtype="float32")  # key j gets feature j + 1
_, w_same = attention(positions, positions, positions)
_, w_prev = attention(positions @ w_q, positions @ w_k, positions)
print("without W: each word attends to", w_same.argmax(-1).tolist())
print("with W_q, W_k: word i attends to", w_prev.argmax(-1).tolist())
print("weights of word 0:", w_prev[0].round(2))
print("weights of word 3:", w_prev[3].round(2))

# %% [markdown]
# 単語 0 には前の単語がないので、重みを均等に配っています。実際のモデルでは、こうした行列を人が手で選ぶことはありません。最初はランダムで、タスクの損失（言語モデルなら次の単語の予測）から勾配が流れ込み、ほかの重みと同じように学習されます。その勾配は FAQ で実際に見せています。
#
# ## なぜバリューがあり、なぜ W_v があるのか
#
# キーは「何と照合されるか」、バリューは「何を渡すか」を表します。V = X で射影もなければ、出力は入力ベクトルの重み付き平均なので、出力の各特徴は入力の最小値と最大値の間に収まります。アテンションは混ぜることしかできず、変換はできません。

# %%
w_v = rng.normal(size=(16, 16)).astype("float32")
out_vx, _ = attention(x, x, x, scale=0.25)
out_wv, _ = attention(x, x, x @ w_v, scale=0.25)
inside = (out_vx >= x.min(0) - 1e-6) & (out_vx <= x.max(0) + 1e-6)
print("V = X: outputs inside the inputs' range:", bool(inside.all()))
outside = (out_wv < x.min(0)) | (out_wv > x.max(0))
print("V = X W_v: features outside that range:", int(outside.sum()))

# %% [markdown]
# ただし、ヘッドが 1 つで、その後に出力射影 W_o が続く場合を考えてみてください。出力は 重み · (X W_v) · W_o で、W_v W_o は 1 つの行列にまとめられます。つまり**ヘッドが 1 つなら W_v と W_o は 1 つにできます**。W_v を単位行列に、W_o を W_v W_o に置き換えても、何も変わりません。`keras_attn.MultiHeadAttention` で確かめます。

# %%
D = 8
one_head = keras_attn.MultiHeadAttention(num_heads=1, key_dim=D, use_bias=False)
tokens = rng.normal(size=(2, 5, D)).astype("float32")
before = ops.convert_to_numpy(one_head(tokens))
w_value = one_head.value_dense.kernel  # (D, 1, D)
w_out = one_head.output_dense.kernel  # (1, D, D)
merged = ops.einsum("dnh,nhe->nde", w_value, w_out)  # W_v W_o: (1, D, D)
one_head.value_dense.kernel.assign(np.eye(D, dtype="float32")[:, None, :])
one_head.output_dense.kernel.assign(merged)
after = ops.convert_to_numpy(one_head(tokens))
print("V = X with W_o' = W_v W_o gives the same output:")
print("  allclose:", np.allclose(before, after, atol=1e-5))

# %% [markdown]
# それでも W_v を残すのは、ヘッドがあるからです。各ヘッドの W_v,i は、モデルの D 個の特徴をそのヘッド専用の小さな H 次元（論文では 512 のうち 64）に写すので、各ヘッドは何を渡すかを安く選べ、全ヘッドをつなげるとまた幅 D に戻ります。V = X のままマルチヘッドにすると、どのヘッドも D 個の特徴をまるごと受け取り、つなげた結果は幅 N·D になってしまいます。
#
# ## 2. なぜヘッドを複数にするのか: 512 = 8 × 64
#
# 論文のモデルは特徴が D = 512 個で、ヘッドは N = 8 個、各ヘッドの次元は H = 64 です。ヘッドはモデルの幅を分け合うのであって、掛け算で増やすわけではありません。各ヘッドは 512 → 64 に射影するので、小さなヘッド 8 個の 4 つの射影が持つ重みの数は、幅 512 のヘッド 1 個の射影と同じです。

# %%
for heads, depth in ((8, 64), (1, 512)):
    mha = keras_attn.MultiHeadAttention(num_heads=heads, key_dim=depth)
    mha.build((None, None, 512), (None, None, 512))
    print(f"N={heads}, H={depth}: {mha.count_params():,} parameters")
print(f"4 · (512 · 512 + 512) = {4 * (512 * 512 + 512):,}")

# %% [markdown]
# 数が同じなら、ヘッドを分けると何が得られるのでしょうか。各ヘッドは**自分専用のソフトマックス**を持つので、どの単語にどれだけ注意を向けるかの配分をヘッドごとに決められます。ソフトマックスの 1 行は 1 つの重み付き平均にすぎません。左隣と右隣の*両方*が必要な単語は、その 2 つを混ぜたものしか受け取れず、どちらがどちらだったかを区別できません。隣ごとに 1 つずつヘッドを使えば、つなげた出力の中で 2 つは別々に残ります。
#
# 確かめ方: "A B C" と "C B A" の真ん中の単語を比べます。単語の特徴は [位置の one-hot | 単語の one-hot] で、クエリとキーには位置を、バリューには単語を使います。

# %%
vocab = {"A": 0, "B": 1, "C": 2}


def encode(words):
    pos = np.eye(3, dtype="float32")
    ids = np.eye(3, dtype="float32")[[vocab[w] for w in words]]
    return pos, ids  # queries/keys from positions, values from words


left_key = np.eye(3, k=1, dtype="float32")  # key j answers query j + 1
right_key = np.eye(3, k=-1, dtype="float32")  # key j answers query j - 1
results = {}
for words in (["A", "B", "C"], ["C", "B", "A"]):
    pos, ids = encode(words)
    q = pos * 8.0
    one, _ = attention(q, pos @ (left_key + right_key), ids)
    left, _ = attention(q, pos @ left_key, ids)
    right, _ = attention(q, pos @ right_key, ids)
    two = np.concatenate([left, right], axis=-1)  # the concatenated heads
    results[" ".join(words)] = (one[1], two[1])
    print(" ".join(words), "| one head:", one[1].round(2), end="  ")
    print("two heads:", two[1].round(2))
(one_abc, two_abc), (one_cba, two_cba) = results.values()
print("one head tells them apart:", not np.allclose(one_abc, one_cba))
print("two heads tell them apart:", not np.allclose(two_abc, two_cba))

# %% [markdown]
# ヘッドが 1 つだと、"B" はどちらの文でも A と C を半分ずつ見ています。ヘッドが 2 つなら、出力の前半が「左は A」か「左は C」かを教えてくれます。学習済みのモデルでは、ヘッドはこのように役割を分担するようになります（直前の単語、動詞の主語、対応する括弧など）。しかも 64 次元のヘッド 8 個のコストは、512 次元のヘッド 1 個と同じです。
#
# 学習前の 8 ヘッドの層でも、すでに 8 通りの異なるパターンがあります。各ヘッドが受け持つ射影の部分が、別々の乱数から始まるからです。

# %%
mha = keras_attn.MultiHeadAttention(num_heads=8, key_dim=4)
_, maps = mha(tokens, tokens, return_attention_scores=True)
show(plot_attention_heads(ops.convert_to_numpy(maps)[0], ncols=8))

# %% [markdown]
# ## 3. 残差結合: 「E + ΔE」はどこにあるのか
#
# 講義の「E + ΔE」は式のどこにあるのか、という質問があります。答えは、各サブレイヤーの **x +** の部分です。ブロックは入力 E から変化分 ΔE を計算し、それを足します（`x + Sublayer(x)`）。そのため各層は入力の*補正*だけを学習すればよく、役に立つことを学ばなければ恒等写像の近くにとどまれます。確認: 2 つの出力射影をゼロにしたプレノルム（pre-norm）のエンコーダブロックは ΔE = 0 を足すだけなので、入力をそのまま返します。

# %%
block = keras_attn.TransformerEncoderBlock(
    num_heads=2, intermediate_dim=16, norm_first=True
)
block(tokens)  # build
block.self_attention.output_dense.kernel.assign(
    np.zeros(block.self_attention.output_dense.kernel.shape, "float32")
)
block.feed_forward.output_dense.kernel.assign(np.zeros((16, D), "float32"))
print("E + 0 = E:", np.allclose(ops.convert_to_numpy(block(tokens)), tokens))

# %% [markdown]
# 残差結合は**勾配**も運びます。L 層を y = f(x) で重ねると、勾配は L 個のヤコビ行列の積になります。残差結合があると各因子は (I + J) になり、単位行列のおかげで積が消えません。小さな重みの線形サブレイヤーなら、ヤコビ行列は重み行列そのものなので、積を直接測れます。

# %%
layers = [rng.normal(scale=0.1, size=(D, D)) for _ in range(30)]
plain = np.eye(D)
res = np.eye(D)
norms = []
for w in layers:
    plain = w @ plain  # y = W x
    res = (np.eye(D) + w) @ res  # y = x + W x
    norms.append((np.linalg.norm(plain, 2), np.linalg.norm(res, 2)))
norms = np.array(norms)
print(f"gradient size after 30 layers: plain {norms[-1, 0]:.1e}, ", end="")
print(f"residual {norms[-1, 1]:.2f}")

fig = figure(5, 3)
ax = fig.add_subplot()
ax.semilogy(range(1, 31), norms[:, 0], label=tr("y = f(x)", "y = f(x)"))
ax.semilogy(range(1, 31), norms[:, 1], label=tr("y = x + f(x)", "y = x + f(x)"))
ax.set_xlabel(tr("layers", "層の数"))
ax.set_ylabel(tr("gradient norm", "勾配のノルム"))
ax.legend()
show(fig)

# %% [markdown]
# ## Add & Norm
#
# 論文の図では、各サブレイヤーの後ろの箱に **Add & Norm** と書かれています。残差を足してから（Add）正規化する（Norm）、つまり `LayerNorm(x + Sublayer(x))` です（ポストノルム、`norm_first=False`）。GPT-2 以降の多くのモデルは先に正規化する `x + Sublayer(LayerNorm(x))`（プレノルム、`norm_first=True`）を使います。層を深く重ねたときの学習が安定するからです。エンコーダブロック 1 つを、ブロック自身のサブレイヤーを使って両方のやり方で手計算します。

# %%
for norm_first in (False, True):
    block = keras_attn.TransformerEncoderBlock(
        num_heads=2, intermediate_dim=16, norm_first=norm_first
    )
    expected = ops.convert_to_numpy(block(tokens))
    mha, ffn = block.self_attention, block.feed_forward
    ln1, ln2 = block.self_attention_layer_norm, block.feed_forward_layer_norm
    if norm_first:  # x + Sublayer(LayerNorm(x))
        h = tokens + mha(ln1(tokens))
        by_hand = h + ffn(ln2(h))
    else:  # Add & Norm: LayerNorm(x + Sublayer(x))
        h = ln1(tokens + mha(tokens))
        by_hand = ln2(h + ffn(h))
    ok = np.allclose(ops.convert_to_numpy(by_hand), expected, atol=1e-5)
    print(f"norm_first={norm_first}: by hand == block:", ok)

# %% [markdown]
# ## フィードフォワード層: max(0, x W1 + b1) W2 + b2
#
# アテンションで単語どうしの情報を混ぜた後、各位置は同じ 2 層のネットワークを別々に通ります。これが**位置ごとのフィードフォワード層**（論文の式 (2)）で、FFN(x) = max(0, x W1 + b1) W2 + b2 です。max(0, ·) が ReLU で、中間層の幅はモデルの幅の 4 倍（2048 = 4 × 512）です。アテンションは単語の*間*で情報を動かし、FFN は各単語のベクトルを変換します。
#
# **演習。** この式を書いてみましょう。空欄は (1) 中間層と (2) 出力の 2 つです。セルを実行すると、関数の下のチェックが、ノートブックとは大きさの異なる入力であなたの関数を呼び出し、正しければ ✓ を表示します。誤りがあれば、何が違うのかを具体的に示すヒントを出して、ノートブックを止めます。その次のセルで、`keras_attn.FeedForward` の重みを使って、あなたの関数と層の出力を比べます。模範解答は `tutorials/exercises/solutions.py` にあります。ノートブックが模範解答を使うのは、テストで `KERAS_ATTN_TUTORIAL_SOLUTIONS=1` が設定されたときだけで、その場合はそのことを表示します。


# %%
def feed_forward(x, w1, b1, w2, b2):
    """FFN(x) = max(0, x W1 + b1) W2 + b2: (B, T, D) -> (B, T, D)."""
    hidden = ___  # ___ (1) ___ max(0, x W1 + b1), shape (B, T, F)
    return ___  # ___ (2) ___ back to the model width D


# yours; the reference only if KERAS_ATTN_TUTORIAL_SOLUTIONS=1 (tests)
feed_forward = solutions.if_requested(feed_forward)
checks.check_feed_forward(feed_forward)

# %%
ffn = keras_attn.FeedForward(intermediate_dim=32)  # D -> 32 -> D, ReLU
expected = ops.convert_to_numpy(ffn(tokens))
w1, b1 = ffn.intermediate_dense.kernel, ffn.intermediate_dense.bias
w2, b2 = ffn.output_dense.kernel, ffn.output_dense.bias
by_hand = feed_forward(tokens, w1, b1, w2, b2)  # yours
print("max(0, xW1+b1)W2+b2 == FeedForward:", end=" ")
print(np.allclose(ops.convert_to_numpy(by_hand), expected, atol=1e-5))
swap = [4, 3, 2, 1, 0]  # reverse the words
permuted = ops.convert_to_numpy(ffn(tokens[:, swap]))
print("position-wise (reordering words reorders outputs):", end=" ")
print(np.allclose(permuted, expected[:, swap], atol=1e-6))
print(f"parameters: {ffn.count_params()} =", end=" ")
print(f"{D}·32 + 32 + 32·{D} + {D} = {D * 32 + 32 + 32 * D + D}")

# %% [markdown]
# ## レイヤー正規化を手で計算する
#
# LayerNorm は**単語ごとのベクトル**を、その特徴全体で平均 0・分散 1 になるようにそろえ、学習されるスケール γ とシフト β をかけます: LN(x) = γ (x − 平均) / √(分散 + ε) + β。バッチ正規化と違ってバッチをまたいで見ないので、文が 1 つでも複数でも、長さがいくつでも、学習時でも推論時でも同じように動きます。サブレイヤーが次々に足し込んでいく残差の流れの大きさを一定の範囲に保つ役目もあります。

# %%
norm = keras.layers.LayerNormalization(epsilon=1e-6)
norm.build((None, None, D))
norm.gamma.assign(rng.normal(size=D).astype("float32"))
norm.beta.assign(rng.normal(size=D).astype("float32"))
mean = tokens.mean(axis=-1, keepdims=True)
var = tokens.var(axis=-1, keepdims=True)
by_hand = norm.gamma * (tokens - mean) / np.sqrt(var + 1e-6) + norm.beta
print("by hand == keras.layers.LayerNormalization:", end=" ")
print(np.allclose(ops.convert_to_numpy(by_hand), norm(tokens), atol=1e-5))
plain = (tokens - mean) / np.sqrt(var + 1e-6)
print("per word: mean", plain.mean(-1).round(6).max(), end=", ")
print(
    "variance", plain.var(-1).round(4).min(), "to", plain.var(-1).round(4).max()
)

# %% [markdown]
# ## 4. 畳み込みとプーリング（チュートリアル 7・8 の前に）
#
# **畳み込み**は、小さなカーネルを画像の上で滑らせ、各位置でその下にある画素の重み付き和を取ります。どこでも同じ少数の重みを使い、各出力が見るのは小さな近傍だけです。右の列から左の列を引く 3 × 3 のカーネルは、縦のエッジに反応します。**プーリング**は特徴マップを縮めます。最大値プーリングは 2 × 2 のブロックごとに最大値を残し、**グローバル平均プーリング**はチャンネル全体を平均して 1 つの数にします。これが SE（チュートリアル 7）の「squeeze」です。

# %%
image = np.zeros((6, 6), "float32")
image[:, 3:] = 1.0  # dark left half, bright right half: a vertical edge
kernel = np.array([[-1, 0, 1]] * 3, "float32")  # right minus left

by_hand = np.zeros((4, 4), "float32")  # "valid" convolution: 6 - 3 + 1
for i in range(4):
    for j in range(4):
        by_hand[i, j] = np.sum(image[i : i + 3, j : j + 3] * kernel)

conv = keras.layers.Conv2D(1, 3, use_bias=False)
conv.build((None, 6, 6, 1))
conv.kernel.assign(kernel[:, :, None, None])
feature_map = ops.convert_to_numpy(conv(image[None, :, :, None]))[0, :, :, 0]
print("by hand == Conv2D:", np.allclose(by_hand, feature_map))
print(feature_map)

pooled = keras.layers.MaxPooling2D(2)(feature_map[None, :, :, None])
print("max pooling 2×2:", ops.convert_to_numpy(pooled)[0, :, :, 0].tolist())
squeeze = keras.layers.GlobalAveragePooling2D()(feature_map[None, :, :, None])
print("global average pooling:", float(ops.convert_to_numpy(squeeze)[0, 0]))
print("= mean of the map:", float(feature_map.mean()))

fig = figure(6, 2.6)
for i, (data, title) in enumerate(
    [
        (image, tr("image", "画像")),
        (kernel, tr("kernel", "カーネル")),
        (feature_map, tr("feature map", "特徴マップ")),
    ]
):
    ax = fig.add_subplot(1, 3, i + 1)
    ax.imshow(data, cmap="gray")
    ax.set_title(title)
    ax.set_xticks(range(data.shape[1]))
    ax.set_yticks(range(data.shape[0]))
show(fig)

# %% [markdown]
# エッジはどこにあっても見つかり（どの位置でも同じカーネルなので）、特徴マップは 4 × 4 になります。3 × 3 のカーネルは 1 行に 6 − 3 + 1 = 4 回収まるからです。畳み込みが見るのは常に小さな窓の中だけです。SAGAN（チュートリアル 8）は自己アテンションを加えて、離れた画素の情報も使えるようにします。
#
# ## 5. 加法アテンションと乗法アテンション
#
# どちらもクエリ q とキー k_s から重み softmax(e_s) を作りますが、スコア e_s の計算が違います。
#
# | | スコア e_s | 使われる場所 |
# |---|---|---|
# | 加法（Bahdanau） | vᵀ tanh(W_q q + W_k k_s) | チュートリアル 6、RNN |
# | 乗法（Luong の general） | qᵀ W_a k_s | RNN |
# | 内積 / スケール化内積 | q · k_s (/ √d_k) | Transformer |
#
# 加法アテンションは、(クエリ, キー) の組ごとに tanh を含む小さなネットワークを計算します。乗法アテンションは全部の組を 1 回の行列積で計算でき、これは GPU が最も得意とする計算です。2 つのスコアを、それぞれの層自身の重みから手計算します。

# %%
decoder_state = rng.normal(size=(2, 6)).astype("float32")  # q: (B, Dq)
encoder_states = rng.normal(size=(2, 5, 8)).astype("float32")  # (B, S, Dk)

bahdanau = keras_attn.BahdanauAttention(units=4)
_, w_add = bahdanau(decoder_state, encoder_states, return_attention_scores=True)
hidden = np.tanh(
    (decoder_state @ bahdanau.query_dense.kernel)[:, None, :]  # (B, 1, U)
    + encoder_states @ bahdanau.key_dense.kernel  # (B, S, U)
)
e_add = hidden @ bahdanau.score_vector  # (B, S)
print("additive by hand == BahdanauAttention:", end=" ")
print(np.allclose(ops.softmax(e_add), w_add, atol=1e-6))

luong = keras_attn.LuongAttention(score="general")
_, w_mul = luong(decoder_state, encoder_states, return_attention_scores=True)
e_mul = np.einsum(
    "bk,bsk->bs", decoder_state @ luong.query_dense.kernel, encoder_states
)  # qᵀ W_a k_s
print("W_a:", tuple(luong.query_dense.kernel.shape), end="; ")
print("multiplicative by hand == LuongAttention:", end=" ")
print(np.allclose(ops.softmax(e_mul), w_mul, atol=1e-6))

T_, S_, U_ = 50, 60, 128
print(f"T={T_}, S={S_}, U={U_}: additive builds a (T, S, U) tensor of ", end="")
print(f"{T_ * S_ * U_:,} numbers; multiplicative a (T, S) one of {T_ * S_:,}")

# %% [markdown]
# どちらも、クエリとキーの次元が違っていてもかまいません（ここでは 6 と 8。W_a は 6 × 8 になります）。翻訳で最初に使われたのは加法アテンションで（Bahdanau et al., 2015）、Luong et al. (2015) はより計算の軽い乗法のスコアをそれと比べました。Transformer は単純な内積を選び、√d_k で割ることで安全にし、学習する部分を W_q と W_k に移しました。これが 1 節の出発点です。
