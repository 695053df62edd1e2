"""Code shared by the tutorials: small mode, data, exercise checks.

Importing this package first (each notebook's setup cell does) keeps
TensorFlow's start-up lines out of the notebook: "Could not find cuda
drivers", "failed call to cuInit ... CUDA error", oneDNN and
cpu_feature_guard. On a machine without a GPU they look like failures but
are not. `TF_CPP_MIN_LOG_LEVEL=2` silences TensorFlow's own info and
warning lines; the CUDA lines are printed by absl before TensorFlow reads
that variable, so Keras (hence TensorFlow) is imported, and on a machine
without an NVIDIA device its devices are listed, with the process's
standard error (file descriptor 2) sent to /dev/null for that moment only.
Python errors still raise; later messages are untouched. Where
`/dev/nvidia0` exists, the device listing is left audible: a failed
cuInit there is a real problem.
"""

import os
import sys

_NO_GPU = not os.path.exists("/dev/nvidia0")


def _quietly(action):
    """Run `action()` with file descriptor 2 (C++ stderr) muted."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, AttributeError, ValueError):
        return action()
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        return action()
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def _start_quietly():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "keras" in sys.modules:  # too late: the lines, if any, are out
        return

    def start():
        import keras

        if keras.backend.backend() == "tensorflow" and _NO_GPU:
            import tensorflow as tf

            tf.config.list_physical_devices()  # cuInit fails here

    _quietly(start)


_start_quietly()
