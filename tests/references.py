"""NumPy/Python references that several test files check against."""

import math


def t5_bucket(relative, bidirectional, num_buckets, max_distance):
    """T5's bucket of one `key_pos - query_pos`, in plain Python floats."""
    offset, distance = 0, -relative  # distance into the past
    if bidirectional:
        num_buckets //= 2
        if distance < 0:  # a future key
            offset = num_buckets
        distance = abs(distance)
    else:
        distance = max(distance, 0)
    exact = num_buckets // 2
    if distance < exact:
        return offset + distance
    log_ratio = math.log(distance / exact) / math.log(max_distance / exact)
    bucket = exact + int(log_ratio * (num_buckets - exact))
    return offset + min(bucket, num_buckets - 1)
