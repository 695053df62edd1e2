"""Interleaved timing for the bench scripts (decoding.py, generation.py).

Every configuration runs once first, to trace and compile (timed apart as
warm-up, excluded from the results); then each of `repeats` rounds runs
every configuration once, in an order rotated every round, so a slow
spell of a shared machine falls on all of them alike. Results are medians.
"""

import statistics
import time


def interleaved(calls, repeats, tolerate_errors=False):
    """Times `calls`, a dict `{config: zero-argument callable}`.

    With `tolerate_errors`, a configuration whose warm-up raises is
    recorded as `"n/a (Error: first line)"` and left out of the rounds;
    otherwise the error propagates.

    Returns:
        `(status, warmup, samples)`: dicts keyed by config, of `"ok"` or
        the n/a text, warm-up seconds, and the list of timed seconds.
    """
    status, warmup = {}, {}
    for config, call in calls.items():
        start = time.perf_counter()
        try:
            call()
            status[config] = "ok"
        except Exception as error:
            if not tolerate_errors:
                raise
            reason = (str(error).strip().splitlines() or [""])[0]
            status[config] = f"n/a ({type(error).__name__}: {reason[:120]})"
        warmup[config] = time.perf_counter() - start
        print(f"warm-up {config}: {status[config]}", flush=True)
    live = [c for c in calls if status[c] == "ok"]
    samples = {c: [] for c in live}
    for r in range(repeats):
        start = time.perf_counter()
        shift = r % max(1, len(live))
        for config in live[shift:] + live[:shift]:
            t = time.perf_counter()
            calls[config]()
            samples[config].append(time.perf_counter() - t)
        print(
            f"round {r + 1}/{repeats}: {time.perf_counter() - start:.1f} s",
            flush=True,
        )
    return status, warmup, samples


def latency(times, tokens):
    """Median latency (ms), tokens/s for `tokens` per call, and the
    spread (max - min) / median of `times` (seconds)."""
    median = statistics.median(times)
    return {
        "latency_ms": round(1e3 * median, 2),
        "tokens_per_s": round(tokens / median, 1),
        "spread": round((max(times) - min(times)) / median, 3),
    }
