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
# # 0. アテンションを直感でつかむ
#
# 数式に入る前に、人間にとっての「注意」とは何か、単語の意味がなぜ周りの単語で決まるのか、そして講義に出てくる小さな計算例を見ていきます。講義の例はすべて `keras.ops` と `keras_attn` でこのノートブックの中で計算し直すので、本文に出てくる数値はどれもノートブックが実際に計算したものです。
#
# このノートブックでは何も学習しないので、CPU でもすぐに最後まで動きます。

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
from keras_attn.visualize import plot_attention

LANG = os.path.basename(os.getcwd())  # "en" or "ja": labels of the figures


def tr(en, ja):
    """The label in this notebook's language."""
    return ja if LANG == "ja" else en


def softmax(scores):
    return ops.convert_to_numpy(ops.softmax(np.asarray(scores, "float32")))


# %% [markdown]
# ## 人間の「注意」
#
# 「注意（attention）」は、機械学習よりずっと前から心理学で使われてきた言葉です。
#
# * **視覚的注意**: 目には景色全体が入っていますが、細かく「見えて」いるのは注意を向けている部分だけです。動かせるスポットライトのようなものです。
# * **聴覚的注意**: にぎやかなパーティーでも、1 人の声だけを聞き分け、ほかの声を意識の外に追いやれます。これが**カクテルパーティー効果**です（Cherry, 1953）。離れた場所で自分の名前が聞こえると、ふっと注意がそちらに向きます。
#
# どちらの場合も、情報はすべて届いています。どの部分をどれだけ使うかを決めるのが注意です。ニューラルネットワークのアテンションがしていることもまさにこれで、受け取ったもの全部の**重み付き平均**を取ります。重みは、いま探しているものに対して各部分がどれだけ関係するかを表します。
#
# おもちゃのカクテルパーティーで試してみましょう。高さの違う 3 人の声が同時に聞こえています。それぞれの声には、その声の特徴（ここではどの音域にあるか）を表す**キー**があります。聞きたいのは 440 Hz の声で、これが**クエリ**です。重みはクエリとキーの内積のソフトマックスで、聞こえる音は声（**バリュー**）の重み付き和です。

# %%
time = np.linspace(0.0, 0.02, 400, dtype="float32")  # 20 ms
pitches = [220.0, 440.0, 880.0]  # Hz
voices = np.stack([np.sin(2 * np.pi * f * time) for f in pitches])  # (3, 400)
keys = np.eye(3, dtype="float32")  # voice i lives in pitch band i
query = np.array([0.0, 4.0, 0.0], "float32")  # "I want the 440 Hz band"

weights = softmax(keys @ query)  # (3,)
heard = weights @ voices  # (400,): the weighted sum of the values
mixture = voices.mean(axis=0)  # everyone at once, no attention


def similarity(a, b):
    return float(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b))


print("attention weights over the voices:", weights.round(3))
print(f"mixture vs the 440 Hz voice: {similarity(mixture, voices[1]):.2f}")
print(f"attended vs the 440 Hz voice: {similarity(heard, voices[1]):.2f}")

fig = figure(7, 2.6)
ax = fig.add_subplot()
ax.plot(time * 1000, mixture, color="0.7", label=tr("mixture", "混ざった音"))
ax.plot(time * 1000, heard, label=tr("attended", "注意を向けた音"))
ax.set_xlabel(tr("time (ms)", "時間 (ms)"))
ax.legend(loc="upper right")
show(fig)

# %% [markdown]
# 重み付き和は、ほぼ 440 Hz の声そのものになりました。それでいて何も捨ててはいません。ほかの声も小さな重みで混ざっています。クエリを `[0, 0, 4]` に変えれば、今度は 880 Hz の声を追いかけます。
#
# ## 意味は文脈で決まる: "bank"
#
# 英語の *bank* は、"the river bank" なら「土手・川岸」、"the money bank" なら「銀行」です。**静的な埋め込み**（word2vec や `keras.layers.Embedding` のような表引き）は、周りに何があっても 1 つの単語に 1 つのベクトルしか与えません。自己アテンションはこれを**文脈に応じた埋め込み**に変えます。各単語の新しいベクトルは文全体の重み付き平均なので、同じ単語でも文が違えば違うベクトルになります。
#
# 学習なしで確かめるため、各単語に *（自然, お金, 文法）* の 3 つの特徴からなるベクトルを手で与えます。学習済みのモデルは、こうしたベクトルを名前のない数百の特徴で自分で獲得します。

# %%
features = {  # (nature, money, grammar)
    "the": [0.0, 0.0, 1.0],
    "river": [1.0, 0.0, 0.0],
    "money": [0.0, 1.0, 0.0],
    "bank": [0.5, 0.5, 0.0],
}
sentences = [["the", "river", "bank"], ["the", "money", "bank"]]
x = np.array([[features[w] for w in s] for s in sentences], "float32")

# Static: the vector of "bank" is the same in both sentences.
print("static 'bank':", x[0, 2], x[1, 2])

# Contextual: one self-attention pass, queries = keys = values = x.
contextual = keras_attn.ops.scaled_dot_product_attention(x, x, x)
contextual = ops.convert_to_numpy(contextual)  # (2 sentences, 3 words, 3)
for s, out in zip(sentences, contextual):
    nature, money, _ = out[2]
    print(f"{' '.join(s):16s} -> 'bank' = {out[2].round(3)}", end="  ")
    print(f"nature - money = {nature - money:+.3f}")

# %% [markdown]
# アテンションを 1 回通すと、"bank" は "river" の隣では*自然*寄りに、"money" の隣では*お金*寄りになり、*自然 − お金* の符号が入れ替わります。「Transformer は word2vec に次元を 1 つ足しただけのものか？」という学習者の疑問への答えがこれです。答えは「いいえ」。word2vec は単語ごとに 1 つのベクトルですが、Transformer は各単語のベクトルを、層ごとに文全体から計算し直します。
#
# ## 「得意 な スポーツ は ？」から「野球 が 得意」を見る
#
# 講義の例です。「得意なスポーツは？」という問いに答えるために、返事「野球 が 得意」の各単語に **0.6 / 0.02 / 0.38** の重みで注意を向けます。講義はこの重みを示していますが、どんなスコアから出てきたかは書いていません。ソフトマックスをかけてこの重みになるスコアなら何でもよく、たとえば重みの対数がそうです。また、すべてのスコアに同じ定数を足しても結果は変わりません（ソフトマックスが見るのは差だけです）。

# %%
words = ["野球", "が", "得意"]
lecture_weights = np.array([0.6, 0.02, 0.38], "float32")
scores = np.log(lecture_weights)  # one set of scores that gives them
print("scores = log(weights):", scores.round(3))
print("softmax(scores):      ", softmax(scores).round(3))
print("softmax(scores + 5):  ", softmax(scores + 5.0).round(3))

# Values: hand-made (sport, grammar, skill) features of the three words.
values = np.array(
    [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], "float32"
)
answer = lecture_weights @ values  # the weighted sum: what attention returns
print("output (sport, grammar, skill):", answer.round(3))

fig = plot_attention(
    lecture_weights[None, :], ["スポーツ"], words, title=tr("weights", "重み")
)
show(fig)

# %% [markdown]
# 出力は「野球」が 60 %、「得意」が 38 % で、助詞「が」はほとんど無視されています。クエリが、問いに答える 2 つの単語を集めてきたわけです。学習済みのモデルでは、スコアもバリューのベクトルも学習で決まります。
#
# **演習。** このノートブックの例はどれも、スコアを求めたあとは同じ 2 ステップです。キー方向のソフトマックスで重みにし、その重みでバリューの重み付き平均をとります。この 2 ステップを 1 つの関数にまとめてみましょう。空欄は (1) 重みと (2) 出力の 2 つで、`scores` はクエリごとに 1 行です。セルを実行すると、関数の下のチェックが、ノートブックとは大きさの異なる入力であなたの関数を呼び出し、正しければ ✓ を表示します。誤りがあれば、何が違うのかを具体的に示すヒントを出して、ノートブックを止めます。そのあと、あなたの関数で上の例を計算し直します。模範解答は `tutorials/exercises/solutions.py` にあります。ノートブックが模範解答を使うのは、テストで `KERAS_ATTN_TUTORIAL_SOLUTIONS=1` が設定されたときだけで、その場合はそのことを表示します。


# %%
def attend(scores, values):
    """scores (T, S), values (S, Dv) -> output (T, Dv), weights (T, S)."""
    weights = ___  # ___ (1) ___ softmax over the keys: each row sums to 1
    output = ___  # ___ (2) ___ the weighted average of the values
    return output, weights


# yours; the reference only if KERAS_ATTN_TUTORIAL_SOLUTIONS=1 (tests)
attend = solutions.if_requested(attend)
checks.check_attend(attend)

output, weights = attend(scores[None, :], values)  # one query: スポーツ
output, weights = ops.convert_to_numpy(output), ops.convert_to_numpy(weights)
print("weights:", weights.round(3), "output:", output.round(3))
print("the lecture's weights again:", np.allclose(weights, lecture_weights))
print("the same output:", np.allclose(output, answer[None, :], atol=1e-6))

# %% [markdown]
# ## クエリ・キーの内積 1.2 と 3.6 → 重み 0.4 と 0.6？
#
# 講義には、あるクエリと 2 つのキーの内積が **1.2** と **3.6** で、重みがおよそ **0.4** と **0.6** になる例が出てきます。この計算をいくつかの読み方で実際にやってみます。

# %%
qk = np.array([1.2, 3.6], "float32")
print("softmax(q·k):              ", softmax(qk).round(3))
print("q·k / sum(q·k):            ", (qk / qk.sum()).round(3))
for d_k in (4, 16, 64):
    scaled = softmax(qk / np.sqrt(d_k))
    print(f"softmax(q·k / √{d_k:<3d}):       ", scaled.round(3))
exact = (qk[1] - qk[0]) / np.log(0.6 / 0.4)  # divisor for exactly 0.4/0.6
print(
    f"exactly 0.4 / 0.6 needs a divisor of {exact:.2f} (d_k ≈ {exact**2:.0f})"
)

# %% [markdown]
# 1.2 と 3.6 にそのままソフトマックスをかけると 0.4 / 0.6 からは程遠く、大きいほうのスコアがほぼすべてを取ります。スコアを合計で割ると 0.25 / 0.75 で、これも違います。講義はこの重みの計算過程を示していません。よく使われる計算のうち 0.4 / 0.6 に近くなるのは、Transformer の**スケール化**内積 softmax(q·k / √d_k) で、論文のヘッドの次元 d_k = 64 を使った場合です。上の出力の 2 つの重みを小数第 1 位に丸めると 0.4 と 0.6 になります。つまり講義の数値は 1.2 と 3.6 にそのままソフトマックスをかけた結果ではなく、丸めた重みで示した説明用の値と読むのが妥当です。ぴったり 0.4 / 0.6 にするのに必要な割る数は最後の行に出力してあります。√d_k で割る理由はチュートリアル 2 で扱います。
#
# ## 単語を ID に: 「今日 は いい 天気 だ → 21 2 32 90 15」
#
# ネットワークが読めるのは数値で、単語ではありません。**トークナイザ**が文をトークンに分け（日本語には空白がないので、実際には MeCab のような形態素解析器や SentencePiece のようなサブワード分割を使います）、**語彙**がそれぞれに番号を振ります。ID はただの名札で、講義の語彙ではたまたま「今日」が 21 番だというだけです。講義と同じ ID になる語彙を作り、ID をベクトルに変える**埋め込み**の表引きまでやってみます。

# %%
vocabulary = {"[PAD]": 0, "は": 2, "だ": 15, "今日": 21, "いい": 32, "天気": 90}
sentence = "今日 は いい 天気 だ"
ids = [vocabulary[token] for token in sentence.split()]
print(sentence, "->", ids)

embedding = keras.layers.Embedding(input_dim=100, output_dim=4)
vectors = ops.convert_to_numpy(embedding(np.array([ids])))  # (1, 5, 4)
table = ops.convert_to_numpy(embedding.embeddings)  # (100, 4)
print("vectors:", vectors.shape, "= rows", ids, "of a", table.shape, "table")
print("row 21 is the vector of 今日:", np.array_equal(vectors[0, 0], table[21]))

# %% [markdown]
# 埋め込みとは、ID ごとに学習されるベクトルが 1 行ずつ並んだ表です。この表引きが、"bank" の節で見た静的な埋め込みです。アテンションを含め、この後の処理はすべてこのベクトルの上で行われます。
#
# ## 「This is a pen → これはペンです」: 2 つの文の間のアテンション
#
# 翻訳は、講義でくり返し出てくるもう 1 つの例です。**エンコーダ**が入力文を読み、**デコーダ**が開始トークンから始めて出力文を 1 トークンずつ書きます。学習中のデコーダには、正解の 1 つ前までのトークンを入力として与え（teacher forcing）、**先読み防止マスク**（causal mask）で各位置が自分より後ろのトークンを見ないようにします。
#
# 両者をつなぐのが**クロスアテンション**（講義でいう Source-Target Attention）です。出力側の各位置がクエリになり、入力文のトークンがキーとバリュー（講義でいう Memory）になります。ここでは 2 つの言語で共通の「意味ベクトル」を各単語に手で与えるので、図に出るのは、学習済みのモデルが見つけるようになるはずのアテンションです。

# %%
source = ["This", "is", "a", "pen"]
decoder_input = ["<s>", "これ", "は", "ペン", "です"]
target = ["これ", "は", "ペン", "です", "</s>"]

meaning = {  # (this, be, article, pen, start)
    "This": [1, 0, 0, 0, 0],
    "is": [0, 1, 0, 0, 0],
    "a": [0, 0, 1, 0, 0],
    "pen": [0, 0, 0, 1, 0],
    "<s>": [0, 0, 0, 0, 1],
    "これ": [1, 0, 0, 0, 0],
    "は": [0.5, 0.5, 0, 0, 0],  # the topic marker: about "this", before "is"
    "ペン": [0, 0, 0.3, 1, 0],
    "です": [0, 1, 0, 0, 0],
}
src = np.array([[meaning[w] for w in source]], "float32") * 3.0  # (1, 4, 5)
tgt = np.array([[meaning[w] for w in decoder_input]], "float32") * 3.0
_, cross = keras_attn.ops.scaled_dot_product_attention(
    tgt, src, src, return_weights=True
)  # queries: the target positions; keys and values: the source words
causal = keras_attn.ops.causal_mask(len(decoder_input))  # (5, 5), True = see

print("decoder input:", decoder_input)
print("targets:      ", target)
print("cross-attention weights:", tuple(cross.shape), "(target × source)")
print(ops.convert_to_numpy(cross)[0].round(2))
print("causal mask of the decoder (1 = may attend):")
print(ops.convert_to_numpy(causal).astype(int))
show(plot_attention(ops.convert_to_numpy(cross)[0], decoder_input, source))

# %% [markdown]
# 「これ」は *This* を、「ペン」は *pen*（と少しだけ *a*）を、「です」は *is* を見ています。「は」は *This* と *is* に分かれています。開始トークン `<s>` はどの入力単語とも合わないので、重みは均等です。先読み防止マスクは下三角で、位置 2（「は」）は `<s>`・「これ」・「は」を読めますが、これから予測する「ペン」や「です」は読めません。
#
# ## 次に読むもの
#
# * **チュートリアル 1**: そもそもなぜ翻訳にアテンションが必要だったのか。
# * **チュートリアル 2**: 上で使ったスケール化内積アテンションを自分で組み立てます。
# * **「それぞれの部品はなぜあるのか」**（もう 1 つの 0 番のノートブック）: 学習される射影、マルチヘッド、残差結合、Add & Norm、フィードフォワード層、畳み込みとプーリング、加法アテンションと乗法アテンションの違いを説明します。
