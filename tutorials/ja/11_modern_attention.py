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
# # 11. 最近のモデルのアテンション
#
# 2017 年の Transformer（チュートリアル 5）は、いまも Llama・Mistral・Gemma・Qwen の中心にあります。変わったのはいくつかの部品で、どれも元の設計のコストや限界への答えです。
#
# | 変更 | 何を解決するか |
# |---|---|
# | 回転位置埋め込み（RoPE） | 位置が*差*だけで効くようにする |
# | Grouped-Query / Multi-Query Attention（GQA / MQA） | KV キャッシュの大きさ |
# | スライディングウィンドウ | 長さとともに増える計算量とキャッシュ |
# | KV キャッシュ | トークンごとに先頭から計算し直すこと |
# | メモリ効率のよいアテンション | メモリを埋め尽くす T × T のロジット |
#
# どれも `keras_attn.MultiHeadAttention` と Transformer の各ブロックの引数になっています。ここでは 1 つずつ中身を見て、それぞれの約束を数値で確かめます。

# %%
import os
import sys
import time

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
from exercises.common import pick
from exercises.common import show
from keras_attn import generation

LANG = os.path.basename(os.getcwd())  # "en" or "ja": labels of the figures


def tr(en, ja):
    """The label in this notebook's language."""
    return ja if LANG == "ja" else en


def numpy(x):
    return ops.convert_to_numpy(x)


keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. 回転位置埋め込み（RoPE）
#
# チュートリアル 4 では各単語に位置ベクトルを*足し*ました。RoPE は代わりにクエリとキーを**回転**させます。特徴を 2 つずつ組にし、位置 p にあるトークンの i 番目の組を角度 p · θ_i だけ回します。θ_i = 10000^(−2i/d) で、最初の組ほど速く、最後の組ほどゆっくり回ります。ここから 2 つのことが言えます。
#
# * 回転は長さを変えないので、RoPE はノルムを変えない。
# * 位置 m で回したクエリと位置 n で回したキーの間の角度は m − n だけで決まるので、その内積、つまりアテンションのスコアは**相対**位置だけを見る。
#
# **演習。** まず回転を手で計算します。並べ方は「rotate-half」です。特徴 i と特徴 i + H/2 が組になるので、前半 x1 と後半 x2 が一緒に回り、x の相方は (−x2, x1) になります。空欄は、(1) 角度 θ_i、(2) 相方、(3) 回転の 3 つです。セルを実行すると、関数の下のチェックが、ノートブックとは大きさの異なる入力であなたの関数を呼び出し、正しければ ✓ を表示します。誤りがあれば、何が違うのかを具体的に示すヒントを出して、ノートブックを止めます。その次のセルで、あなたの関数を `keras_attn.RotaryEmbedding` と照合します。模範解答は `tutorials/exercises/solutions.py` にあります。ノートブックが模範解答を使うのは、テストで `KERAS_ATTN_TUTORIAL_SOLUTIONS=1` が設定されたときだけで、その場合はそのことを表示します。


# %%
def apply_rope(x, max_wavelength=10000.0):
    """RoPE, rotate-half layout: x (B, T, N, H) at positions 0..T-1."""
    length, depth = x.shape[1], x.shape[-1]
    i = np.arange(depth // 2)  # the pair index
    theta = ___  # ___ (1) ___ max_wavelength^(−2i/H), shape (H/2,)
    angles = np.arange(length)[:, None] * theta  # (T, H/2): p · θ_i
    angles = np.concatenate([angles, angles], -1)[:, None, :]  # (T, 1, H)
    x1, x2 = x[..., : depth // 2], x[..., depth // 2 :]  # the two halves
    rotated = ___  # ___ (2) ___ the partner of x, (−x2, x1): (B, T, N, H)
    return ___  # ___ (3) ___ x cos(angles) + rotated sin(angles)


# yours; the reference only if KERAS_ATTN_TUTORIAL_SOLUTIONS=1 (tests)
apply_rope = solutions.if_requested(apply_rope)
checks.check_apply_rope(apply_rope)

# %%
d = 8
rope = keras_attn.RotaryEmbedding(max_wavelength=10000)
x = rng.normal(size=(1, 6, 1, d)).astype("float32")  # (B, T, N, H)
by_hand = numpy(apply_rope(x))  # yours
rotated = numpy(rope(x))
print("by hand == RotaryEmbedding:", np.allclose(by_hand, rotated, atol=1e-5))
print("norms before:", np.linalg.norm(x, axis=-1).ravel().round(4))
print("norms after: ", np.linalg.norm(rotated, axis=-1).ravel().round(4))

# %% [markdown]
# 次は相対位置の性質です。1 つのクエリと 1 つのキーを、距離 m − n = 2 が同じいくつかの位置の組 (m, n) に置きます。RoPE をかけた後のスコアは毎回同じで、距離が違えば変わります。


# %%
def rope_score(q, k, m, n):
    """q · k after rotating q to position m and k to position n."""
    q_m = numpy(rope(q[None, None, None, :], start_index=m))
    k_n = numpy(rope(k[None, None, None, :], start_index=n))
    return float(np.sum(q_m * k_n))


q, k = rng.normal(size=(2, d)).astype("float32")
for m, n in ((2, 0), (7, 5), (100, 98), (5, 0)):
    print(f"m={m:3d} n={n:3d} m-n={m - n}: score {rope_score(q, k, m, n):.4f}")
same = [rope_score(q, k, m, m - 2) for m in (2, 7, 100)]
print("same distance, same score:", np.allclose(same, same[0], atol=1e-4))

distances = np.arange(pick(64, 256))
along = numpy(rope(np.tile(q, (1, len(distances), 1, 1))))[0, :, 0]  # (T, d)
scores = along @ along[0]  # q at position t against q at position 0
fig = figure(6, 2.6)
ax = fig.add_subplot()
ax.plot(distances, scores)
ax.set_xlabel(tr("distance m − n", "距離 m − n"))
ax.set_ylabel(tr("score of q with itself", "自分自身とのスコア"))
show(fig)

# %% [markdown]
# あるベクトルと、それを t 位置ずらした自分自身とのスコアは t だけで決まり、絶対位置は入ってきません。層の中では、`rotary_embedding=True` で射影の後のクエリとキーを回転させます（キャッシュを使ってデコードするときは位置 `cache_index + i` で回します）。`RotaryEmbedding(scaling="linear" | "dynamic" | "yarn", ...)` は角度を引き伸ばし、学習したときより長い入力でモデルを動かせるようにします。
#
# ## 2. Grouped-Query Attention と Multi-Query Attention
#
# 生成中は、過去のすべてのトークンのキーとバリューが KV キャッシュ（4 節）に残ります。1 層あたり 2 × N ヘッド × T 位置 × H 個の数値です。GQA はクエリのヘッドを N 個のままにして、キーとバリューのヘッドだけを Nkv < N 個に減らし、N / Nkv 個のクエリヘッドが 1 組のキー・バリューを共有します。MQA はその極端な場合で Nkv = 1 です。引数は `num_key_value_heads` です。

# %%
D, N, H = 512, 8, 64
B, max_length = 1, 4096
print(" Nkv  parameters  cache per layer (float32, T=4096)")
for kv_heads in (8, 2, 1):
    layer = keras_attn.MultiHeadAttention(
        num_heads=N, key_dim=H, num_key_value_heads=kv_heads
    )
    layer.build((None, None, D), (None, None, D))
    cache = layer.init_cache(batch_size=B, max_length=max_length)
    cache_bytes = 4 * (np.prod(cache.key.shape) + np.prod(cache.value.shape))
    print(
        f"{kv_heads:4d} {layer.count_params():11,d}  "
        f"{cache_bytes / 2**20:5.1f} MiB  key cache {tuple(cache.key.shape)}"
    )

# %% [markdown]
# Nkv = 2 なら（Llama 2 の 70B はクエリ 64 ヘッドに対してキー・バリュー 8 ヘッドです）、キャッシュは通常のマルチヘッドアテンションの 4 分の 1 になり、K と V の射影も同じ割合で小さくなります。
#
# GQA は、グループ内のヘッドが同じキーとバリューを持つ普通のマルチヘッドアテンションにすぎません。それをそのまま確かめます。GQA の層（クエリ 4 ヘッド、キー・バリュー 2 ヘッド）の重みを、通常の 4 ヘッドの層にコピーします。このとき各キー・バリューのヘッドを、それを共有するグループの数だけくり返します。そして出力を比べます。

# %%
D, N, H = 16, 4, 4
gqa = keras_attn.MultiHeadAttention(
    num_heads=N, key_dim=H, num_key_value_heads=2
)
full = keras_attn.MultiHeadAttention(num_heads=N, key_dim=H)
tokens = rng.normal(size=(2, 5, D)).astype("float32")
gqa(tokens)
full(tokens)
group = N // 2  # query heads per key/value head
for name in ("query_dense", "output_dense"):
    for w_full, w_gqa in zip(
        getattr(full, name).weights, getattr(gqa, name).weights
    ):
        w_full.assign(w_gqa)
for name in ("key_dense", "value_dense"):
    kernel, bias = getattr(gqa, name).weights  # (D, 2, H), (2, H)
    getattr(full, name).kernel.assign(np.repeat(numpy(kernel), group, axis=1))
    getattr(full, name).bias.assign(np.repeat(numpy(bias), group, axis=0))
same = np.allclose(numpy(gqa(tokens)), numpy(full(tokens)), atol=1e-5)
print("GQA == MHA with each key/value head repeated for its group:", same)

# %% [markdown]
# ## 3. スライディングウィンドウアテンション
#
# 窓の幅を w とすると、クエリ i が見るのは |i − j| < w を満たすキー j だけです。先読み防止マスクと組み合わせると、自分を含めて直前の w 個の位置になります（Mistral は w = 4096）。計算量とキャッシュは長さではなく w とともに増えます。`keras_attn.ops` で帯状のマスクを作り、`merge_masks` で先読み防止マスクと組み合わせます。

# %%
T, window = 10, 3
band = keras_attn.ops.sliding_window_mask(T, T, window)
causal = keras_attn.ops.causal_mask(T)
local = numpy(keras_attn.ops.merge_masks(band, causal))  # (T, T), True = see

fig = figure(8, 2.8)
for i, (mask, title) in enumerate(
    [
        (numpy(causal), tr("causal", "先読み防止")),
        (numpy(band), tr(f"window {window}", f"窓 {window}")),
        (local, tr("causal + window", "先読み防止 + 窓")),
    ]
):
    ax = fig.add_subplot(1, 3, i + 1)
    ax.imshow(mask, cmap="Blues", vmin=0, vmax=1)
    ax.set_title(title)
    ax.set_xticks(range(0, T, 3))
    ax.set_yticks(range(0, T, 3))
    ax.set_xlabel(tr("key", "キー"))
    if i == 0:
        ax.set_ylabel(tr("query", "クエリ"))
fig.suptitle(tr("dark = may attend", "濃い色 = 注意してよい"))
show(fig)
print("keys seen by each query:", local.sum(-1).tolist())

# %% [markdown]
# `sliding_window=3` の層は、帯の外の重みをちょうど 0 にします。層を重ねると見える範囲が広がります。1 層ごとに w − 1 位置ずつさかのぼれるので、L 層なら L · (w − 1) です。マスクを合成して、その到達範囲を計算します。

# %%
layer = keras_attn.MultiHeadAttention(num_heads=2, sliding_window=window)
x = rng.normal(size=(1, T, 8)).astype("float32")
_, weights = layer(x, use_causal_mask=True, return_attention_scores=True)
outside = numpy(weights)[0][:, ~local]  # (heads, masked entries)
print("weight outside the causal window:", float(np.abs(outside).max()))

reach = np.eye(T, dtype=bool)
for depth in range(1, 4):
    reach = (reach.astype(int) @ local.astype(int)) > 0  # one more layer
    first = int(np.argmax(reach[T - 1]))
    print(f"{depth} layer(s): the last token reaches back to position {first}")

# %% [markdown]
# デコードのとき、窓付きの層は w トークンより古いキーを使うことがありません。そのためキャッシュは、生成する長さに関係なく w 個のスロットからなるリングバッファで済みます。

# %%
layer = keras_attn.MultiHeadAttention(num_heads=2, key_dim=4, sliding_window=3)
layer(x)
ring = layer.init_cache(batch_size=1, max_length=100_000)
print(type(ring).__name__, "key cache:", tuple(ring.key.shape))

# %% [markdown]
# ## 4. KV キャッシュと、生成が速い理由
#
# デコーダはトークンを 1 つずつ生成します。キャッシュがなければ、古いトークンのキーとバリューは変わっていない（先読み防止マスクのおかげで前の位置は後ろの位置を見ない）にもかかわらず、各ステップで先頭からの全体をモデルにもう一度通します。キャッシュがあれば、各ステップでは新しいトークンのクエリ・キー・バリューだけを計算し、キーとバリューを `cache_index` の位置に書き込み、キャッシュに注意を向けます。
#
# 小さなデコーダのみのモデル（重みはランダムです。比べたいのは文章ではなくデコードの仕方です）で、両方のやり方で貪欲法（greedy）デコードをします。

# %%
V, D = 50, 64
embed = keras.layers.Embedding(V, D)
decoder = keras_attn.TransformerDecoder(
    num_layers=2,
    num_heads=4,
    intermediate_dim=4 * D,
    norm_first=True,
    rotary_embedding=True,
)
head = keras.layers.Dense(V)
prompt = rng.integers(1, V, size=(1, 4)).astype("int32")
steps = pick(3, 16)


def logits_of(ids):
    """Next-token logits at every position of `ids` (B, T)."""
    return head(decoder(embed(ids)))  # causal by default


def greedy_without_cache(prompt, steps):
    ids = prompt
    for _ in range(steps):  # the whole prefix, every step
        next_id = ops.argmax(logits_of(ids)[:, -1], axis=-1)
        ids = ops.concatenate([ids, ops.cast(next_id[:, None], "int32")], 1)
    return numpy(ids[:, prompt.shape[1] :])


def step_fn(token_ids, cache, index):
    """One new token (N,) at position `index` -> logits (N, V), cache."""
    x, cache = decoder(
        embed(token_ids[:, None]), cache=cache, cache_index=index
    )
    return head(x)[:, 0], cache


def prefill_fn(prompt, cache):
    """The whole prompt in one call, written at positions 0..P-1."""
    x, cache = decoder(embed(prompt), cache=cache, cache_index=0)
    return head(x)[:, -1], cache


logits_of(prompt)  # build the layers
cache = decoder.init_cache(batch_size=1, max_length=prompt.shape[1] + steps)
cached, _ = generation.greedy_search(
    step_fn, cache, max_length=steps, prompt=prompt, prefill_fn=prefill_fn
)
uncached = greedy_without_cache(prompt, steps)
print("cached tokens:  ", numpy(cached)[0].tolist())
print("uncached tokens:", uncached[0].tolist())
print("same tokens:", np.array_equal(numpy(cached), uncached))

P = prompt.shape[1]
with_cache = P + steps - 1  # the prompt once, then one token per step
without = sum(P + i for i in range(steps))  # the whole prefix, every step
print(f"positions run through the model: {with_cache} with the cache,", end="")
print(f" {without} without")

# %% [markdown]
# 次に、すでに L トークン並んでいるときの**生成 1 ステップ**の時間を測ります。キャッシュなしではそのステップで L 個の位置をすべて計算し、キャッシュありでは 1 位置だけを計算して L 個のキャッシュ済みのキーに注意を向けます。それぞれ、このマシンでイーガー実行（コンパイルなし）を数回した中の最短時間です（スモールモードでは 1 回だけ）。


# %%
def best_time(fn):
    times = []
    for _ in range(pick(1, 3)):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


print("      L  without cache  with cache  ratio")
for length in pick((8, 64), (64, 512, 2048)):
    ids = rng.integers(1, V, size=(1, length)).astype("int32")
    cache = decoder.init_cache(batch_size=1, max_length=length)
    _, cache = decoder(embed(ids[:, :-1]), cache=cache, cache_index=0)
    last = embed(ids[:, -1:])
    t_full = best_time(lambda ids=ids: logits_of(ids))
    t_step = best_time(
        lambda x=last, c=cache, i=length - 1: decoder(x, cache=c, cache_index=i)
    )
    print(
        f"{length:7d} {t_full * 1000:10.0f} ms {t_step * 1000:8.0f} ms"
        f"  {t_full / t_step:5.1f}x"
    )

# %% [markdown]
# キャッシュによって、仕事量は「すべての途中までの長さの合計」（生成する長さの 2 乗）から「1 ステップに新しい 1 位置」（1 乗）に変わります。プレフィックスが短いうちは、キャッシュありのステップは速くならず、むしろ遅いこともあります（キャッシュへの書き込みもあるため）。これほど小さなモデルでは、イーガー実行の 1 回の呼び出しの大部分が計算そのものではなくオーバーヘッドだからです。しかしキャッシュなしの時間は L とともに伸び、キャッシュありの時間はほとんど変わらないので、比はプレフィックスが長くなるほど大きくなります（2048 までのプレフィックスはフルモードで実行すると見られます）。キャッシュありのステップでも、キャッシュ済みのすべてのキーに*注意を向ける*ことに変わりはありません。だからキャッシュの大きさ（2 節）とアテンションの大きさ（5 節）が問題になるのです。コンパイルしたデコード（`tf.function`、`jax.jit`）も使えます。キャッシュの形が固定だからです。
#
# ## 5. 2 乗のコストと、メモリ効率のよいアテンション
#
# 通常の（密な）アテンションは、すべての (クエリ, キー) の組のロジットを保存します。B · N · T² 個の数値です。float32 では、T とともに急速に大きくなります。

# %%
print("     T   logits, 8 heads, float32")
for t in (512, 2048, 8192, 32768):
    gib = 8 * t * t * 4 / 2**30
    print(f"{t:6d}   {gib:8.3f} GiB")

# %% [markdown]
# メモリ効率のよいアテンション（Rabe & Staats 2021、FlashAttention: Dao et al. 2022）は、この行列を一度も持たずに同じ結果を出します。キーをブロックごとにたどり、クエリごとに最大値・ソフトマックスの分母・重み付き和の途中経過を持ち続け、より大きなロジットが来たらそれらをスケールし直します。メモリは T に比例するようになり、計算量は 2 乗のままです。`keras_attn.ops.memory_efficient_attention` はこれを `keras.ops` でどのバックエンドでも行います（層は、ヘッドあたりのロジットが 2048 × 2048 以上になると自動でこちらに切り替えます）。確認: 先読み防止マスクのときも、スライディングウィンドウのときも出力が一致します。

# %%
T = pick(128, 2048)
q, k, v = (rng.normal(size=(1, 2, T, 16)).astype("float32") for _ in range(3))
for name, mask, kwargs in (
    ("causal", keras_attn.ops.causal_mask(T), dict(causal=True)),
    (
        "causal, window 64",
        keras_attn.ops.merge_masks(
            keras_attn.ops.causal_mask(T),
            keras_attn.ops.sliding_window_mask(T, T, 64),
        ),
        dict(causal=True, sliding_window=64),
    ),
):
    dense = keras_attn.ops.scaled_dot_product_attention(q, k, v, mask=mask)
    chunked = keras_attn.ops.memory_efficient_attention(
        q, k, v, query_chunk_size=64, key_chunk_size=64, **kwargs
    )
    diff = float(np.abs(numpy(dense) - numpy(chunked)).max())
    print(f"T={T}, {name}: largest difference {diff:.1e}")
    print(f"  logits held: dense {T * T:,} per head, chunked {64 * 64:,}")

# %% [markdown]
# 最大の差は float32 の丸め誤差の大きさです。チャンク化した計算が一度に持つのは、T × T ではなく 64 × 64 のロジットのブロック 1 つだけです。2 つの計算の時間と最大メモリを T = 32k まで測った結果が `docs/benchmarks.md` にあります。
#
# ## keras_attn のどこにあるか
#
# Llama や Mistral 風のデコーダは、ブロックの設定だけで作れます: `TransformerDecoder(..., norm_first=True, normalization="rms_norm", activation="swiglu", use_bias=False, num_key_value_heads=2, rotary_embedding=True, sliding_window=256)`。そのほかのオプション（ALiBi、T5 の相対位置バイアス、QK-norm、ロジットのソフトキャップ、アテンションシンク）は、リポジトリの README に論文とともに一覧があります。
