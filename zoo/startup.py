"""Start TensorFlow without the native log lines no user can act on.

Importing TensorFlow and initialising its devices writes C++ log lines
straight to file descriptor 2 ("Could not find cuda drivers", "failed call
to cuInit" on a machine without a GPU, oneDNN and CPU-instruction notices,
absl's "log messages before InitializeLog" preamble), which neither
`TF_CPP_MIN_LOG_LEVEL` nor Python's `warnings` can silence. `quiet_start`
captures descriptor 2 while that happens and replays every line except
those known notices, so real errors and warnings still reach the user.
"""

import contextlib
import os
import re
import sys
import tempfile

NOTICES = re.compile(
    "|".join(
        (
            r"All log messages before absl::InitializeLog",
            r"cudart_stub\.cc.*Could not find cuda drivers",
            r"cuda_platform\.cc.*failed call to cuInit",
            r"cuda_executor\.cc.*(no NVIDIA GPU|cuInit)",
            r"cpu_feature_guard\.cc",
            r"rebuild TensorFlow with the appropriate compiler flags",
            r"oneDNN custom operations are on",
            r"TF_ENABLE_ONEDNN_OPTS",
            r"Unable to register cu(DNN|FFT|BLAS) factory",
            r"computation placer already registered",
        )
    )
)


@contextlib.contextmanager
def quiet_start():
    """Run the block with descriptor 2 captured; replay all but NOTICES."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode("utf-8", errors="replace")
            for line in text.splitlines():
                if line.strip() and not NOTICES.search(line):
                    print(line, file=sys.stderr)


def start_tensorflow():
    """Import TensorFlow and initialise its devices, quietly."""
    with quiet_start():
        import tensorflow as tf

        tf.config.list_logical_devices()
