"""The README's layer example runs and trains as written."""

import pathlib
import re

import numpy as np

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_readme_model_example_builds_and_fits():
    namespace = {}
    exec(_python_blocks()[0], namespace)  # noqa: S102
    model = namespace["model"]
    ids = np.random.default_rng(0).integers(1, 8000, size=(4, 12))
    ids[:, 9:] = 0  # padding
    history = model.fit(ids, np.array([0, 1, 0, 1]), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    # Padding must not change the prediction of the real tokens.
    longer = np.concatenate([ids, np.zeros((4, 5), ids.dtype)], axis=1)
    np.testing.assert_allclose(
        model.predict(ids, verbose=0),
        model.predict(longer, verbose=0),
        atol=1e-5,
    )


def test_readme_modern_decoder_example_runs():
    block = next(b for b in _python_blocks() if "rms_norm" in b)
    namespace = {}
    exec(block, namespace)  # noqa: S102
    cache = namespace["cache"]
    # The ring holds the window, not the 100k tokens asked for.
    assert tuple(cache[0][0].key.shape) == (1, 2, 256, 64)
    decoder = namespace["decoder"]
    assert decoder(np.zeros((1, 5, 512), "float32")).shape == (1, 5, 512)
