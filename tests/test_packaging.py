"""`pip install keras-attn` needs keras and numpy only, not TensorFlow."""

import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Runs in the fresh venv: the layers work on JAX, and nothing pulled in
# TensorFlow (or matplotlib, which keras_attn.visualize imports lazily).
CHECK = textwrap.dedent(
    """
    import importlib.util, sys
    import numpy as np
    import keras
    import keras_attn
    assert keras.backend.backend() == "jax", keras.backend.backend()
    layer = keras_attn.MultiHeadAttention(num_heads=2, key_dim=4)
    query = np.ones((2, 3, 8), "float32")  # (B, T, D)
    value = np.ones((2, 5, 8), "float32")  # (B, S, D)
    out = layer(query, value)
    assert tuple(out.shape) == (2, 3, 8), out.shape
    loaded = sorted({"tensorflow", "matplotlib"} & set(sys.modules))
    assert not loaded, f"import keras_attn imported {loaded}"
    assert importlib.util.find_spec("tensorflow") is None, "tensorflow found"
    print("OK", keras.__version__)
    """
)


def _run(command, **kwargs):
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=900, **kwargs
    )
    assert result.returncode == 0, (command, result.stderr[-3000:])
    return result


@pytest.mark.slow
def test_library_installs_and_runs_without_tensorflow(tmp_path):
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])  # clean: no site-packages
    python = str(venv / "bin" / "python")
    # The package with its own requirements (setup.cfg install_requires),
    # so a TensorFlow requirement there would be installed and fail below.
    _run([python, "-m", "pip", "install", "-q", "-e", ROOT, "jax[cpu]"])
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTHON", "VIRTUAL_ENV"))
    }
    env["KERAS_BACKEND"] = "jax"
    result = _run([python, "-c", CHECK], env=env, cwd=str(tmp_path))
    assert result.stdout.startswith("OK")
