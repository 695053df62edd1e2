"""Every message an exercise check can give, in English and Japanese.

`MESSAGES[code] = (english, japanese)`; both are `str.format` templates
with the same fields. `feedback.say(code, **fields)` picks the reader's
language. A test checks that every code has both editions with the same
fields, and that every code a check can raise is listed here.
"""

MESSAGES = {
    # --- verdicts -------------------------------------------------------------
    "correct": (
        "✓ `{name}` is correct (checked on {cases} inputs of other sizes "
        "than the notebook's).",
        "✓ `{name}` は正解です（ノートブックとは大きさの異なる {cases} 通りの"
        "入力で確認しました）。",
    ),
    "failed": (
        "✗ `{name}`: {hint}",
        "✗ `{name}`: {hint}",
    ),
    "solution_used": (
        "KERAS_ATTN_TUTORIAL_SOLUTIONS=1: using the reference `{name}` from "
        "exercises/solutions.py instead of yours.",
        "KERAS_ATTN_TUTORIAL_SOLUTIONS=1 が設定されているため、あなたの答えの"
        "代わりに exercises/solutions.py の模範解答 `{name}` を使います。",
    ),
    # --- anything the learner's code raised -----------------------------------
    "blank": (
        "a blank is still empty on this line:\n    {line}\n"
        "Replace `___` with your code, then run the cell again.",
        "次の行に空欄が残っています:\n    {line}\n"
        "`___` を自分のコードに書き換えてから、セルをもう一度実行してください"
        "。",
    ),
    "undefined_name": (
        "your code uses the name `{name}`, which is not defined, on the "
        "line\n    {line}\nA typo, or a cell above that has not been run?",
        "次の行で、定義されていない名前 `{name}` を使っています:\n    {line}\n"
        "綴りが間違っているか、上のセルをまだ実行していないのかもしれません。",
    ),
    "raised": (
        "your code raised {kind} on the line\n    {line}\n  {detail}\n"
        "The check called it with {sizes}. Look at the shapes on that line.",
        "次の行で {kind} が発生しました:\n    {line}\n  {detail}\n"
        "チェックでは {sizes} で呼び出しています。"
        "この行で扱う配列の形を確かめてください。",
    ),
    "hard_coded": (
        "your function reads the notebook's variable {names} instead of "
        "taking the sizes from its arguments, so it only works for the "
        "notebook's sizes; the check uses others ({sizes}). Use the "
        "arguments (e.g. `x.shape`).\n({detail})",
        "関数の中でノートブックの変数 {names} を使っているため、ノートブックと"
        "同じ大きさでしか動きません。チェックでは別の大きさ（{sizes}）を使いま"
        "す。"
        "大きさは引数から（たとえば `x.shape` で）求めてください。\n（"
        "{detail}）",
    ),
    # --- what came back -------------------------------------------------------
    "not_array": (
        "`{what}` must be a tensor or a NumPy array; got {kind}.",
        "`{what}` はテンソルか NumPy 配列でなければなりませんが、{kind} が"
        "返されました。",
    ),
    "not_pair": (
        "`{name}` must return a pair ({first}, {second}); got {kind}.",
        "`{name}` は ({first}, {second}) の組を返す必要がありますが、{kind} "
        "が返されました。",
    ),
    "not_bool": (
        "`{what}` must be boolean (True = may attend); got dtype {dtype}.",
        "`{what}` は真偽値（True = 注意してよい）でなければなりませんが、dtype "
        "が {dtype} です。",
    ),
    "shape": (
        "`{what}` has shape {got}; expected {expected} = {legend} with "
        "{sizes}.{hint}",
        "`{what}` の形が {got} になっています。{sizes} のとき、期待される形は "
        "{expected} = {legend} です。{hint}",
    ),
    "values": (
        "`{what}` has the right shape but wrong values (with {sizes}: largest "
        "difference {diff} at index {index}). Compare your steps with the "
        "formula one at a time.",
        "`{what}` の形は合っていますが、値が違います（{sizes} のとき、位置 "
        "{index} で最大の差 {diff}）。式と見比べながら、1 ステップずつ確かめて"
        "ください。",
    ),
    "nan": (
        "`{what}` contains NaN. For masked logits use a large finite negative "
        "number such as -1e9, not -inf (a row of -inf gives 0/0).",
        "`{what}` に NaN が含まれています。マスクするロジットには"
        " -inf ではなく -1e9 のような大きな有限の負の数を使ってください"
        "（-inf だけの行は 0/0 になります）。",
    ),
    # --- 01 context vector ----------------------------------------------------
    "context_softmax_axis": (
        "the weights sum to 1 over the decoder steps (axis 1). Each decoder "
        "step needs weights over the encoder positions: `axis=-1`.",
        "重みの和がデコーダの時刻の方向（軸 1）で 1 になっています。必要なのは"
        "、"
        "デコーダの各時刻について、エンコーダの位置にわたる重みです: "
        "`axis=-1`。",
    ),
    "context_from_scores": (
        "the context is weighted by the raw scores. It is the average of the "
        "encoder states weighted by the softmax weights: "
        "`ops.matmul(weights, states)`.",
        "文脈ベクトルを生のスコアで重み付けしています。文脈ベクトルは、softmax "
        "で得た重みでエンコーダの状態を平均したものです: "
        "`ops.matmul(weights, states)`。",
    ),
    # --- 02 attention ---------------------------------------------------------
    "no_softmax": (
        "the weights are the raw scores: you forgot the softmax.",
        "重みがスコアのままです。softmax を忘れています。",
    ),
    "softmax_query_axis": (
        "the softmax runs over the query axis (-2), so each column sums to "
        "1. Normalise over the keys: `axis=-1`.",
        "softmax をクエリの軸（-2）でとっているため、列ごとの和が 1 になって"
        "います。キーの軸で正規化してください: `axis=-1`。",
    ),
    "softmax_batch_axis": (
        "the softmax runs over the batch axis (0). Normalise over the keys: "
        "`axis=-1`.",
        "softmax をバッチの軸（0）でとっています。キーの軸で正規化してください"
        ": "
        "`axis=-1`。",
    ),
    "not_scaled": (
        "the logits are not scaled: divide Q Kᵀ by √d_k (√{dk} here).",
        "ロジットがスケーリングされていません。Q Kᵀ を √d_k（ここでは √{dk}）"
        "で割ってください。",
    ),
    "divided_by_dk": (
        "you divided by d_k = {dk}; divide by its square root √d_k.",
        "d_k = {dk} で割っています。割るのはその平方根 √d_k です。",
    ),
    "multiplied_by_sqrt_dk": (
        "you multiplied by √d_k; divide by it.",
        "√d_k を掛けています。√d_k で割ってください。",
    ),
    "scaled_by_dv": (
        "you scaled by √d_v, the depth of the values (d_v = {dv} here). The "
        "scale is √d_k, the depth of the queries and keys (d_k = {dk}): "
        "`query.shape[-1]`.",
        "バリューの深さ d_v の平方根 √d_v で割っています（ここでは d_v = {dv}）"
        "。"
        "割るのはクエリとキーの深さ d_k の平方根 √d_k です（d_k = {dk}、"
        "`query.shape[-1]`）。",
    ),
    "mask_inverted": (
        "the mask polarity is inverted. True means 'may attend': keep the "
        "logits where the mask is True and set them to a large negative "
        "number where it is False.",
        "マスクの True と False が逆です。True は「注意してよい」という意味です"
        "。"
        "True の位置のロジットはそのまま残し、False の位置を大きな負の数に"
        "してください。",
    ),
    "mask_ignored": (
        "the mask is ignored: the weights where the mask is False must be 0.",
        "マスクが使われていません。マスクが False の位置の重みは 0 でなければ"
        "なりません。",
    ),
    "zeroed_after_softmax": (
        "you set the masked weights to 0 after the softmax, so the rows no "
        "longer sum to 1 (row sums: {sums}). Mask the logits before the "
        "softmax, `ops.where(mask, scores, -1e9)`: the softmax then gives "
        "exactly 0 there and the remaining weights still sum to 1.",
        "softmax の後で重みを 0 にしているため、各行の和が 1 になりません"
        "（行の和: {sums}）。softmax の前にロジットをマスクしてください: "
        "`ops.where(mask, scores, -1e9)`。そうすれば softmax の結果はその位置で"
        "ちょうど 0 になり、残りの重みの和は 1 のままです。",
    ),
    "scores_transposed": (
        " That is (B, S, T): multiply Q by Kᵀ (swap the last two axes of K), "
        "so that the rows are the queries.",
        "これは (B, S, T) です。Q に Kᵀ（K の最後の 2 軸を入れ替えたもの）を"
        "掛けて、行がクエリになるようにしてください。",
    ),
    "output_from_keys": (
        " That is the depth of the keys: the output must be a weighted sum "
        "of the values.",
        "これはキーの深さです。出力はバリューの重み付き和でなければなりません"
        "。",
    ),
    # --- 03 split / merge heads -----------------------------------------------
    "split_no_transpose": (
        " That is (B, T, N, H): you reshaped but forgot to transpose the "
        "head axis in front of the time axis.",
        "これは (B, T, N, H) です。reshape はできていますが、ヘッドの軸を時間の"
        "軸より前に出す transpose を忘れています。",
    ),
    "split_depth_before_time": (
        " That is (B, N, H, T): the transpose puts the depth before time; "
        "use the axes (0, 2, 1, 3).",
        "これは (B, N, H, T) です。transpose で深さの軸が時間の軸より前に"
        "来ています。軸の順序は (0, 2, 1, 3) にしてください。",
    ),
    "split_into_batch": (
        " That folds the heads into the batch axis; keep them as their own "
        "axis 1.",
        "ヘッドがバッチの軸に畳み込まれています。ヘッドは独立した軸 1 として"
        "残してください。",
    ),
    "split_reshape_straight": (
        "you reshaped straight to (B, N, T, H). A reshape keeps the memory "
        "order, so it mixes time steps into heads: reshape to (B, T, N, H) "
        "first, then transpose to (B, N, T, H).",
        "(B, N, T, H) へ直接 reshape しています。reshape はメモリ上の並びを"
        "変えないので、時刻がヘッドに混ざってしまいます。先に (B, T, N, H) へ "
        "reshape し、それから (B, N, T, H) へ transpose してください。",
    ),
    "split_wrong_order": (
        "each head must be a contiguous block of H features: reshape to "
        "(B, T, N, H), not (B, T, H, N).",
        "各ヘッドは連続した H 個の特徴量のまとまりです。(B, T, H, N) ではなく "
        "(B, T, N, H) へ reshape してください。",
    ),
    "merge_time_and_depth": (
        " You merged time and depth; merge the heads with the depth: "
        "transpose to (B, T, N, H) first.",
        "時間と深さを 1 つにまとめています。まとめるのはヘッドと深さです。"
        "先に (B, T, N, H) へ transpose してください。",
    ),
    "merge_no_reshape": (
        " You transposed but did not reshape the last two axes into one.",
        "transpose はできていますが、最後の 2 つの軸を 1 つにまとめる reshape "
        "がありません。",
    ),
    "merge_reshape_straight": (
        "you reshaped (B, N, T, H) straight to (B, T, N*H), which mixes "
        "heads and time steps: transpose to (B, T, N, H) first, then "
        "reshape.",
        "(B, N, T, H) を直接 (B, T, N*H) へ reshape しているため、ヘッドと時刻"
        "が"
        "混ざっています。先に (B, T, N, H) へ transpose し、それから reshape "
        "してください。",
    ),
    "merge_interleaved": (
        "the features come out interleaved (feature 0 of every head, then "
        "feature 1, ...): transpose with the axes (0, 2, 1, 3), not "
        "(0, 2, 3, 1).",
        "特徴量が交互に並んでいます（全ヘッドの 0 番目、次に全ヘッドの 1 番目"
        "…）。"
        "transpose の軸は (0, 2, 3, 1) ではなく (0, 2, 1, 3) です。",
    ),
    # --- 04 sinusoid table ----------------------------------------------------
    "sin_cos_swapped": (
        "sin and cos are swapped: the even dimensions (0, 2, ...) get sin, "
        "the odd ones cos.",
        "sin と cos が逆です。偶数番目の次元（0, 2, …）が sin、奇数番目が cos "
        "です。",
    ),
    "halves_not_interleaved": (
        "all the sines come first and all the cosines after. The "
        "Transformer's table interleaves them: `table[:, 0::2] = sin`, "
        "`table[:, 1::2] = cos`.",
        "前半に sin、後半に cos をまとめて並べています。Transformer の表では"
        "交互に並べます: `table[:, 0::2] = sin`、`table[:, 1::2] = cos`。",
    ),
    "exponent_i": (
        "the exponent is i / D where the formula has 2i / D: with "
        "`two_i = np.arange(0, depth, 2)` it is `two_i / depth`.",
        "指数が 2i / D ではなく i / D になっています。"
        "`two_i = np.arange(0, depth, 2)` なら、指数は `two_i / depth` です。",
    ),
    "frequency_inverted": (
        "you multiplied the position by 10000^(2i/D); divide by it, so that "
        "the higher dimensions turn more slowly.",
        "位置に 10000^(2i/D) を掛けています。これで割ってください。そうすると、"
        "次元が高いほどゆっくり回る時計の針になります。",
    ),
    # --- 05 decoder self-attention mask ---------------------------------------
    "padding_inverted": (
        "the padding part is inverted: `decoder_in != 0` is True at real "
        "tokens (may attend) and False at padding.",
        "パディングの部分が逆です。`decoder_in != 0` は実際のトークンで True"
        "（注意してよい）、パディングで False になります。",
    ),
    "causal_upper": (
        "the look-ahead part lets each query see the future instead of the "
        "past: use the lower triangle `np.tril`, not `np.triu`.",
        "先読み防止の部分で、各クエリが過去ではなく未来を見ています。"
        "`np.triu` ではなく、下三角の `np.tril` を使ってください。",
    ),
    "causal_strict": (
        "the diagonal is False: a position must be allowed to attend to "
        "itself (`np.tril(ones)`, with the default k=0).",
        "対角成分が False になっています。各位置は自分自身には注意できなければ"
        "なりません（`np.tril(ones)`、k は既定の 0 のまま）。",
    ),
    "padding_on_queries": (
        "the padding mask is on the query axis: `(B, T, 1)` hides the pad "
        "queries, but it is the pad keys that must be hidden: `(B, 1, T)`.",
        "パディングのマスクがクエリの軸にかかっています。`(B, T, 1)` で隠れるの"
        "は"
        "パディングの「クエリ」です。隠すべきなのはパディングの「キー」なので、"
        "形は `(B, 1, T)` にします。",
    ),
    "masks_or": (
        "the two masks are combined with `|`. A key may be attended only if "
        "both masks allow it: combine them with `&`.",
        "2 つのマスクを `|`（または）で組み合わせています。キーに注意してよいの"
        "は"
        "両方のマスクが許すときだけなので、`&` で組み合わせてください。",
    ),
    "padding_missing": (
        "the padding part is missing: queries still attend to pad keys.",
        "パディングの部分が抜けています。クエリがパディングのキーに注意して"
        "しまいます。",
    ),
    "causal_missing": (
        "the look-ahead part is missing: each position can see the tokens "
        "it is about to predict.",
        "先読み防止の部分が抜けています。各位置が、これから予測するトークンを"
        "見られてしまいます。",
    ),
    # --- 06 additive score ----------------------------------------------------
    "no_tanh": (
        "the tanh is missing: e = vᵀ tanh(W_q q + W_k k).",
        "tanh が抜けています: e = vᵀ tanh(W_q q + W_k k)。",
    ),
    "tanh_outside": (
        "the tanh is applied after the product with v; it belongs inside: "
        "e = vᵀ tanh(W_q q + W_k k).",
        "tanh を v との積の後にかけています。tanh は内側です: "
        "e = vᵀ tanh(W_q q + W_k k)。",
    ),
    "additive_transposed": (
        " That is (B, S, T): put the query axis before the key axis, "
        "`q[:, :, None, :] + k[:, None, :, :]`.",
        "これは (B, S, T) です。クエリの軸をキーの軸より前に置いてください: "
        "`q[:, :, None, :] + k[:, None, :, :]`。",
    ),
    "multiplicative": (
        "you multiplied the projected query and key, which is a dot-product "
        "(multiplicative) score. Additive attention adds them, then applies "
        "tanh.",
        "射影したクエリとキーを掛け合わせています。これは内積（乗法）のスコアで"
        "す。"
        "加法アテンションでは、足し合わせてから tanh をかけます。",
    ),
    # --- 07 squeeze-and-excitation --------------------------------------------
    "se_max": (
        "you squeezed with the maximum; SE squeezes with the mean over all "
        "positions (global average pooling): `ops.mean(x, axis=(1, 2))`.",
        "squeeze に最大値を使っています。SE の squeeze は全位置にわたる平均"
        "（global average pooling）です: `ops.mean(x, axis=(1, 2))`。",
    ),
    "se_no_sigmoid": (
        "the gates are not squeezed into (0, 1): end the excitation with a "
        "sigmoid.",
        "ゲートが (0, 1) に収まっていません。excite の最後に sigmoid をかけて"
        "ください。",
    ),
    "se_softmax": (
        "the gates come from a softmax, so the channels compete and the "
        "gates sum to 1. SE gates every channel on its own with a sigmoid.",
        "ゲートを softmax で求めているため、チャンネルどうしが奪い合い、ゲート"
        "の"
        "和が 1 になっています。SE では sigmoid で各チャンネルを独立にゲート"
        "します。",
    ),
    "se_single_gate": (
        "one gate for all channels (the mean of the gates) is not channel "
        "attention; multiply each channel by its own gate: "
        "`x * gates[:, None, None, :]`.",
        "全チャンネルに同じ 1 つのゲート（ゲートの平均）を掛けても、チャンネル"
        "への"
        "アテンションにはなりません。各チャンネルに自分のゲートを掛けてください"
        ": "
        "`x * gates[:, None, None, :]`。",
    ),
    "se_gates_only": (
        " That is (B, C), the gates themselves: scale x by them.",
        "これは (B, C)、つまりゲートそのものです。x にゲートを掛けてください。",
    ),
    # --- 08 SAGAN -------------------------------------------------------------
    "sagan_scaled": (
        "you scaled the logits by 1/√d; SAGAN does not scale them.",
        "ロジットを 1/√d でスケーリングしています。SAGAN ではスケーリング"
        "しません。",
    ),
    "sagan_pixel_order": (
        "the pixels are flattened in another order (column by column?). "
        "Reshape (B, H, W, C) straight to (B, H·W, C), row by row, as the "
        "layer does.",
        "画素を別の順序で平坦化しています（列ごとに並べていませんか）。"
        "層と同じく、(B, H, W, C) をそのまま (B, H·W, C) へ reshape して、"
        "行ごとに並べてください。",
    ),
    "sagan_transposed": (
        "β is transposed: its rows must be the query pixels, "
        "β = softmax(q kᵀ) over the last axis, not softmax(k qᵀ).",
        "β が転置されています。β の行はクエリの画素です: "
        "softmax(k qᵀ) ではなく、β = softmax(q kᵀ) を最後の軸でとります。",
    ),
    "sagan_residual": (
        "the output must be y = γ·o + x: the attention branch scaled by γ, "
        "plus the input.",
        "出力は y = γ·o + x です。γ 倍したアテンションの出力に入力を足して"
        "ください。",
    ),
    # --- 09 BERT masking ------------------------------------------------------
    "bert_all_masked": (
        "every chosen token became [MASK]. Only 80% should (action < 0.8); "
        "10% get a random word and 10% stay unchanged.",
        "選ばれたトークンがすべて [MASK] になっています。[MASK] にするのは 80%"
        "（action < 0.8）だけで、10% はランダムな単語に置き換え、残りの 10% は"
        "そのままにします。",
    ),
    "bert_no_random": (
        "no chosen token got a random word: where 0.8 <= action < 0.9, put "
        "`random_words` instead.",
        "ランダムな単語に置き換えたトークンがありません。0.8 <= action < 0.9 の"
        "位置には `random_words` を入れてください。",
    ),
    "bert_unchosen_changed": (
        "tokens that were not chosen changed too: restrict both replacements "
        "to the chosen positions (`chosen & ...`).",
        "選ばれていないトークンまで変わっています。どちらの置き換えも、選ばれた"
        "位置だけに限ってください（`chosen & ...`）。",
    ),
    "bert_weights_changed_only": (
        "the loss weights leave out the chosen tokens that were kept "
        "unchanged. They count too, or the model learns that an unchanged "
        "word never needs predicting: weights = `chosen`.",
        "損失の重みから、選ばれたがそのまま残したトークンが抜けています。これら"
        "も"
        "損失に含めないと、「変わっていない単語は予測しなくてよい」とモデルが学"
        "んで"
        "しまいます。重みは `chosen` です。",
    ),
    "bert_weights_everywhere": (
        "the loss weights are 1 at positions that were not chosen: the "
        "masked-LM loss counts only the chosen positions (weights = "
        "`chosen`).",
        "選ばれていない位置の損失の重みが 1 になっています。マスク言語モデルの"
        "損失は、選ばれた位置だけで計算します（重みは `chosen`）。",
    ),
    "bert_in_place": (
        "your function changed the `tokens` array it was given (they are "
        "also the labels): start from a copy, `tokens.copy()`.",
        "渡された `tokens` の配列そのものを書き換えています（これはラベルでも"
        "あります）。コピー `tokens.copy()` から始めてください。",
    ),
    "bert_split": (
        "the 80/10/10 split is off: [MASK] where action < 0.8, a random "
        "word where 0.8 <= action < 0.9, unchanged otherwise ({counts}).",
        "80/10/10 の分け方がずれています。action < 0.8 なら [MASK]、"
        "0.8 <= action < 0.9 ならランダムな単語、それ以外はそのままです"
        "（{counts}）。",
    ),
    "bert_counts": (
        "expected {mask} [MASK], {random} random, {kept} unchanged; got "
        "{got_mask} [MASK], {got_random} random, {got_kept} unchanged",
        "期待値は [MASK] {mask} 個、ランダム {random} 個、そのまま {kept} 個、"
        "実際は [MASK] {got_mask} 個、ランダム {got_random} 個、そのまま "
        "{got_kept} 個",
    ),
    # --- 10 GPT ---------------------------------------------------------------
    "shift_none": (
        "the targets equal the inputs, so the model would learn to copy the "
        "character it already sees. The targets are the window shifted by "
        "one: `windows[:, 1:]`.",
        "目標が入力と同じなので、モデルは今見えている文字を写すことを学んで"
        "しまいます。目標は窓を 1 文字ずらしたもの `windows[:, 1:]` です。",
    ),
    "shift_reversed": (
        "the shift goes the wrong way: the model would predict the previous "
        "character. Inputs are `windows[:, :-1]`, targets `windows[:, 1:]`.",
        "ずらす向きが逆です。これでは 1 つ前の文字を予測することになります。"
        "入力は `windows[:, :-1]`、目標は `windows[:, 1:]` です。",
    ),
    "temperature_multiplied": (
        "you multiplied the logits by the temperature; divide: "
        "p = softmax(z / τ).",
        "ロジットに温度を掛けています。割ってください: p = softmax(z / τ)。",
    ),
    "temperature_ignored": (
        "the temperature has no effect: divide the logits by it.",
        "温度が効いていません。ロジットを温度で割ってください。",
    ),
    "no_exp": (
        "the probabilities are not a softmax: take the exponential, "
        "p = exp(z) / Σ exp(z).",
        "確率が softmax になっていません。指数をとってください: "
        "p = exp(z) / Σ exp(z)。",
    ),
    # --- 00 attention, intuitively -------------------------------------------
    "divided_by_sum": (
        "the weights are the scores divided by their sum (for the scores 1.2 "
        "and 3.6 that gives 0.25 and 0.75). That is not a softmax: a "
        "negative score would get a negative weight. Take the exponential "
        "first: `ops.softmax(scores, axis=-1)`.",
        "重みが、スコアをその和で割ったものになっています（スコア 1.2 と 3.6 "
        "なら 0.25 と 0.75）。これは softmax ではありません。負のスコアには負の"
        "重みが付いてしまいます。先に指数をとってください: "
        "`ops.softmax(scores, axis=-1)`。",
    ),
    "not_normalised": (
        "the weights are exp(scores) and do not sum to 1: divide each row by "
        "its sum, which is what `ops.softmax(scores, axis=-1)` does.",
        "重みが exp(scores) のままで、和が 1 になっていません。各行をその和で"
        "割ってください。`ops.softmax(scores, axis=-1)` がまさにその計算です。",
    ),
    "output_from_scores": (
        "the output is weighted by the raw scores. Weight the values by the "
        "softmax weights: `ops.matmul(weights, values)`.",
        "出力を生のスコアで重み付けしています。softmax で得た重みでバリューを"
        "重み付けしてください: `ops.matmul(weights, values)`。",
    ),
    "plain_mean": (
        "every query gets the plain mean of the values, the party's mixture "
        "with no attention. Weight each value by its weight: "
        "`ops.matmul(weights, values)`.",
        "どのクエリにも、バリューの単純な平均が返っています。パーティーの音を"
        "全部混ぜただけで、注意を向けていない状態です。各バリューに重みを掛けて"
        "足してください: `ops.matmul(weights, values)`。",
    ),
    # --- 00b the feed-forward network -----------------------------------------
    "ffn_no_relu": (
        "there is no ReLU: two linear layers in a row are one linear layer. "
        "Apply max(0, ·) to x W1 + b1 before multiplying by W2.",
        "ReLU がありません。線形層を 2 つ続けても、1 つの線形層と同じです。"
        "W2 を掛ける前に、x W1 + b1 に max(0, ·) を適用してください。",
    ),
    "ffn_relu_outside": (
        "the ReLU is applied to the output. It belongs to the hidden layer: "
        "max(0, x W1 + b1) W2 + b2, so the output can be negative.",
        "ReLU を出力に掛けています。ReLU は中間層のものです: "
        "max(0, x W1 + b1) W2 + b2。出力は負の値もとれます。",
    ),
    "ffn_bias_after": (
        "b1 is added after the ReLU; it goes inside: max(0, x W1 + b1).",
        "b1 を ReLU の後で足しています。b1 は ReLU の中です: "
        "max(0, x W1 + b1)。",
    ),
    "ffn_no_b2": (
        "the second bias b2 is missing: max(0, x W1 + b1) W2 + b2.",
        "2 つ目のバイアス b2 が抜けています: max(0, x W1 + b1) W2 + b2。",
    ),
    "ffn_residual": (
        "you added x to the result. The residual (and the norm) belong to "
        "Add & Norm around the sub-layer; the FFN itself is "
        "max(0, x W1 + b1) W2 + b2.",
        "結果に x を足しています。残差結合（と正規化）はサブ層の外側の "
        "Add & Norm の仕事で、FFN そのものは max(0, x W1 + b1) W2 + b2 です。",
    ),
    # --- 11 RoPE --------------------------------------------------------------
    "rope_theta_inverted": (
        "θ_i grows with i: the exponent must be negative, "
        "θ_i = max_wavelength ** (-2 * i / depth), so that the last pairs "
        "turn slowly.",
        "θ_i が i とともに大きくなっています。指数は負です: "
        "θ_i = max_wavelength ** (-2 * i / depth)。こうすると、後ろの組ほど"
        "ゆっくり回ります。",
    ),
    "rope_exponent_i": (
        "the exponent is −i / depth where it should be −2i / depth: "
        "`max_wavelength ** (-2 * i / depth)`.",
        "指数が −2i / depth ではなく −i / depth になっています: "
        "`max_wavelength ** (-2 * i / depth)`。",
    ),
    "rope_wrong_direction": (
        "the rotation goes the wrong way (by −p·θ): the partner of x is "
        "(−x2, x1), not (x2, −x1).",
        "回転の向きが逆です（−p·θ だけ回しています）。x の相方は (x2, −x1) "
        "ではなく (−x2, x1) です。",
    ),
    "rope_interleaved": (
        "you rotated the pairs (2i, 2i + 1), the layout of the RoFormer "
        "paper and GPT-J. keras_attn, like GPT-NeoX and Llama, pairs feature "
        "i with feature i + H/2 (rotate-half): use the halves x1, x2.",
        "組 (2i, 2i + 1) を回しています。これは RoFormer の論文や GPT-J の"
        "並べ方です。keras_attn は GPT-NeoX や Llama と同じく、特徴量 i と "
        "i + H/2 を組にします（rotate-half）。前半 x1 と後半 x2 を使って"
        "ください。",
    ),
    "rope_cos_sin_swapped": (
        "cos and sin are swapped: a rotation by the angle a is "
        "x cos(a) + rotate_half(x) sin(a), so that position 0 (a = 0) "
        "leaves x unchanged.",
        "cos と sin が逆です。角度 a の回転は x cos(a) + rotate_half(x) sin(a) "
        "です。こうすれば位置 0（a = 0）では x がそのまま残ります。",
    ),
}
