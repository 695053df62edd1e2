"""What the experiment scripts share: reusing finished runs, and
summaries over seeds (mean, std, a t-interval for paired differences)."""

import dataclasses
import json
import statistics


def previous_metrics(workdir, config, seed):
    """The metrics of a finished identical run in `workdir`, or None."""
    try:
        record = json.loads((workdir / "config.json").read_text())
        metrics = json.loads((workdir / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    same = record["config"] == dataclasses.asdict(config)
    if same and record["options"]["seed"] == seed:
        return metrics
    return None


def mean_std(values):
    """`(mean, sample std)`; the std of one value is 0."""
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return statistics.mean(values), std


def paired_gain(gains, confidence=0.95):
    """Mean, std, t-interval and paired t-test p-value of per-seed gains.

    The gain is "beyond the noise" when the whole interval is above 0.
    With fewer than two seeds there is no interval (None).
    """
    from scipy import stats

    mean, std = mean_std(gains)
    result = {
        "per_seed": [round(g, 4) for g in gains],
        "mean": round(mean, 4),
        "std": round(std, 4),
        "confidence": confidence,
        "interval": None,
        "p_value": None,
        "beyond_noise": False,
    }
    if len(gains) < 2:
        return result
    if std == 0.0:
        low = high = mean
        p_value = 0.0 if mean else 1.0
    else:
        half = stats.t.ppf((1 + confidence) / 2, len(gains) - 1)
        half *= std / len(gains) ** 0.5
        low, high = float(mean - half), float(mean + half)
        p_value = float(stats.ttest_1samp(gains, 0.0).pvalue)
    result.update(
        interval=[round(low, 4), round(high, 4)],
        p_value=round(p_value, 5),
        beyond_noise=bool(low > 0),
    )
    return result
