"""The shared harness: exact resume after a kill, mirrored training."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from zoo.harness import RunOptions

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
ENV = dict(
    os.environ,
    TF_CPP_MIN_LOG_LEVEL="3",
    TF_DETERMINISTIC_OPS="1",
    PYTHONHASHSEED="0",
)
TRAIN = [
    sys.executable,
    "-m",
    "zoo",
    "train",
    "rnn-translator",
    "--preset",
    "tiny",
    "--quiet",
    "--backup-every",
    "3",
    "--set",
    "max_train_pairs=640",
    "--set",
    "max_eval_pairs=8",
    "--set",
    "epochs=2",
]


def _weights(path):
    import keras

    import zoo.rnn_translator  # noqa: F401  (registers the model class)

    model = keras.saving.load_model(path)
    return [np.asarray(w) for w in model.weights]


@pytest.mark.slow
@pytest.mark.tf_only
def test_run_killed_mid_epoch_resumes_to_the_same_weights(tmp_path):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    run = subprocess.run(
        TRAIN + ["--workdir", str(whole)],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]

    proc = subprocess.Popen(
        TRAIN + ["--workdir", str(killed)],
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    backup = killed / "backup" / "training_metadata.json"
    deadline = time.time() + 300
    while not backup.exists() and proc.poll() is None:
        assert time.time() < deadline, "no backup was written"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "model.keras").exists()  # it really died early

    resumed = subprocess.run(
        TRAIN + ["--workdir", str(killed)],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "Resuming from step" in resumed.stdout
    step = int(resumed.stdout.split("Resuming from step ")[1].split()[0])
    assert 0 < step < 2 * 20  # 20 steps per epoch, 2 epochs
    for a, b in zip(
        _weights(whole / "model.keras"), _weights(killed / "model.keras")
    ):
        np.testing.assert_allclose(a, b, atol=1e-5)


MIRRORED = textwrap.dedent(
    """
    import dataclasses, json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from zoo.harness import RunOptions
    from zoo.rnn_translator import PRESETS, train
    config = dataclasses.replace(
        PRESETS["tiny"], max_train_pairs=512, max_eval_pairs=8, epochs=2)
    out = {}
    for name in ("none", "mirrored"):
        options = RunOptions(distribute=name, verbose=0)
        train(config, sys.argv[1] + "/" + name, options)
        history = json.load(open(sys.argv[1] + "/" + name + "/history.json"))
        out[name] = history["loss"]
    strategy = __import__("zoo.harness", fromlist=["x"]).get_strategy(
        "mirrored")
    out["replicas"] = strategy.num_replicas_in_sync
    print("RESULT" + json.dumps(out))
    """
)


@pytest.mark.slow
@pytest.mark.tf_only
def test_mirrored_on_two_cpus_matches_single_device(tmp_path):
    run = subprocess.run(
        [sys.executable, "-c", MIRRORED, str(tmp_path)],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.split("RESULT")[1])
    assert result["replicas"] == 2
    single, mirrored = result["none"], result["mirrored"]
    assert mirrored[-1] < mirrored[0]  # it trains
    # Per-replica token means vs one global mean: equal up to rounding and
    # the split of padding between replicas.
    np.testing.assert_allclose(mirrored, single, rtol=2e-2)


def test_run_options_validate():
    with pytest.raises(ValueError, match="distribute='tpu'"):
        RunOptions(distribute="tpu")
    with pytest.raises(ValueError, match="mixed_precision='fp8'"):
        RunOptions(mixed_precision="fp8")
    with pytest.raises(ValueError, match="backup_every=0"):
        RunOptions(backup_every=0)


def test_repeated_stream_element_depends_only_on_its_position():
    from zoo.data import TranslationTokenizer
    from zoo.data import generate_dates
    from zoo.data import make_dataset

    pairs = generate_dates(40, seed=1)
    tok = TranslationTokenizer.build(
        [s for s, _ in pairs] + [t for _, t in pairs], "en", kind="character"
    )

    def stream():
        return make_dataset(
            pairs, tok, tok, batch_size=8, shuffle=True, seed=3, repeat=True
        )

    first = [b[1].numpy() for b in stream().take(12)]  # 2.4 passes
    # A second iterator of the same dataset, and a fresh dataset skipping
    # ahead, both see exactly the same batches at the same positions.
    again = stream()
    list(again.take(3))
    resumed = [b[1].numpy() for b in again.skip(7).take(5)]
    for a, b in zip(first[7:], resumed):
        np.testing.assert_array_equal(a, b)
    # Passes are in different orders (it really shuffles per pass).
    assert not np.array_equal(first[0], first[5])


def _tiny_model():
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
    return model


def _ones_stream():
    import tensorflow as tf

    x = tf.ones((4, 3))
    return tf.data.Dataset.from_tensors((x, tf.zeros((4, 2)))).repeat()


def test_unreadable_backup_names_the_backup_and_the_fix(tmp_path):
    from zoo.config_utils import UsageError
    from zoo.harness import fit

    backup = tmp_path / "backup"
    backup.mkdir()
    (backup / "latest.weights.h5").write_bytes(b"not hdf5")
    (backup / "latest.weights.h5.bkp").write_bytes(b"not hdf5 either")
    options = RunOptions(verbose=0)
    with pytest.raises(UsageError) as error:
        fit(_tiny_model(), _ones_stream(), 2, 1, tmp_path, options)
    message = str(error.value)
    assert "latest.weights.h5` are unreadable" in message
    assert f"delete `{backup}` or pass `--restart`" in message


def test_backup_falls_back_to_the_previous_copy(tmp_path):
    from zoo.harness import fit

    options = RunOptions(verbose=0, backup_every=1)
    model = _tiny_model()
    backup = tmp_path / "backup"
    backup.mkdir()
    model.optimizer.build(model.trainable_variables)
    model.optimizer.iterations.assign(3)
    model.save_weights(backup / "latest.weights.h5")
    (backup / "latest.weights.h5").rename(backup / "latest.weights.h5.bkp")
    (backup / "latest.weights.h5").write_bytes(b"killed mid-write")
    history, _ = fit(_tiny_model(), _ones_stream(), 2, 2, tmp_path, options)
    assert len(history["loss"]) == 1  # resumed at step 3: epoch 2 only


def test_resuming_with_another_config_suggests_restart(tmp_path):
    from zoo.config_utils import UsageError
    from zoo.harness import prepare_workdir
    from zoo.rnn_translator import PRESETS

    tiny = PRESETS["tiny"]
    prepare_workdir(tmp_path, tiny, RunOptions())
    (tmp_path / "backup").mkdir()
    other = dataclasses.replace(tiny, epochs=tiny.epochs + 1)
    with pytest.raises(UsageError, match="pass --restart"):
        prepare_workdir(tmp_path, other, RunOptions())


def test_resuming_with_the_same_config_is_allowed_with_tuple_fields(tmp_path):
    from zoo.harness import prepare_workdir
    from zoo.transformer_translator import PRESETS

    tiny = dataclasses.replace(PRESETS["tiny"], bucket_boundaries=(8, 16))
    prepare_workdir(tmp_path, tiny, RunOptions())
    (tmp_path / "backup").mkdir()
    # config.json holds the tuple as a JSON list: still the same config.
    assert prepare_workdir(tmp_path, tiny, RunOptions()) == tmp_path
