"""Scale-out, tested: TensorFlow multi-worker training across processes
(identical workers, equal to one process, only the chief writes, a killed
worker resumes), JAX data and model parallelism through
`keras.distribution`, and the `--distribute` choices per backend.

The multi-worker tests start two `python -m zoo train` workers on this
machine (`TF_CONFIG` with two 127.0.0.1 ports) through a small driver that
records where each process saved weights, models and TensorBoard logs. The
JAX tests run in a subprocess with two virtual CPU devices
(`XLA_FLAGS=--xla_force_host_platform_device_count=2` must be set before
JAX starts).
"""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from zoo import cli
from zoo import harness

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
ENV = dict(
    os.environ,
    TF_CPP_MIN_LOG_LEVEL="3",
    TF_DETERMINISTIC_OPS="1",
    PYTHONHASHSEED="0",
    PYTHONPATH=ROOT,
)
ENV.pop("TF_CONFIG", None)
TRANSLATOR = [
    "train",
    "transformer",
    "--preset",
    "tiny",
    "--quiet",
    "--backup-every",
    "3",
    "--set",
    "max_train_pairs=640",  # 20 steps of 32 per epoch
    "--set",
    "max_eval_pairs=8",
    "--set",
    "epochs=2",
]

# Runs `zoo.cli.main(argv)` and records every path this process saved
# weights (`save_weights`: checkpoints and backups), models (`save`) and
# TensorBoard logs to; dumps the weights it saved as model.keras.
DRIVER = textwrap.dedent(
    """
    import json, os, sys
    if os.environ.get("LOGICAL_CPUS"):
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()]
            * int(os.environ["LOGICAL_CPUS"]))
    import keras
    import numpy as np
    record = {"save": [], "save_weights": [], "tensorboard": []}
    save, save_weights = keras.Model.save, keras.Model.save_weights
    tensorboard = keras.callbacks.TensorBoard.__init__

    def record_save(self, filepath, *args, **kwargs):
        record["save"].append(os.path.abspath(str(filepath)))
        if str(filepath).endswith("model.keras"):
            np.savez(os.environ["DUMP"], **{
                w.path.replace("/", "|"): np.asarray(w) for w in self.weights})
        return save(self, filepath, *args, **kwargs)

    def record_save_weights(self, filepath, *args, **kwargs):
        record["save_weights"].append(os.path.abspath(str(filepath)))
        return save_weights(self, filepath, *args, **kwargs)

    def record_tensorboard(self, log_dir="logs", *args, **kwargs):
        record["tensorboard"].append(os.path.abspath(str(log_dir)))
        return tensorboard(self, log_dir, *args, **kwargs)

    keras.Model.save = record_save
    keras.Model.save_weights = record_save_weights
    keras.callbacks.TensorBoard.__init__ = record_tensorboard
    from zoo import cli
    try:
        status = cli.main(sys.argv[1:])
    finally:
        with open(os.environ["RECORD"], "w") as f:
            json.dump(record, f)
    sys.exit(status)
    """
)


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _start(tmp_path, name, argv, **env):
    """Start the driver as process `name`; its files are named after it."""
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    out = open(tmp_path / f"{name}.out", "w")
    return subprocess.Popen(
        [sys.executable, str(driver), *argv],
        cwd=ROOT,
        env=dict(
            ENV,
            DUMP=str(tmp_path / f"{name}.npz"),
            RECORD=str(tmp_path / f"{name}.json"),
            **env,
        ),
        stdout=out,
        stderr=subprocess.STDOUT,
    )


def _start_workers(tmp_path, names, workdir):
    """Two multi-worker processes training into `workdir`."""
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    return [
        _start(
            tmp_path,
            name,
            [*TRANSLATOR, "--distribute", "multi-worker"]
            + ["--workdir", str(workdir)],
            TF_CONFIG=json.dumps(
                {"cluster": cluster, "task": {"type": "worker", "index": i}}
            ),
        )
        for i, name in enumerate(names)
    ]


def _finish(tmp_path, procs, names, timeout=900):
    for proc, name in zip(procs, names):
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            raise
        output = (tmp_path / f"{name}.out").read_text()
        assert proc.returncode == 0, output[-3000:]


def _weights(tmp_path, name):
    saved = np.load(tmp_path / f"{name}.npz")
    return {key.replace("|", "/"): saved[key] for key in saved.files}


def _assert_same_weights(a, b, atol, key_biases=True):
    """`key_biases=False` leaves out the attention key biases: their
    gradient is zero in exact arithmetic (a bias added to every key adds
    one constant to a row of logits, which softmax ignores), so they move
    only by float rounding, which Adam scales up to full-size steps; two
    runs that differ in rounding alone end with key biases 1e-2 apart."""
    assert a.keys() == b.keys()
    keys = [k for k in a if key_biases or not k.endswith("/key/bias")]
    worst = max(float(np.max(np.abs(a[k] - b[k]))) for k in keys)
    assert worst <= atol, f"largest weight difference {worst:.3g} > {atol}"


@pytest.fixture(scope="module")
def cluster_run(tmp_path_factory):
    """An uninterrupted two-worker run and, alongside, one process with
    MirroredStrategy on two logical CPUs: the same global batch of 32,
    split 16 + 16 between two replicas the same way."""
    tmp_path = tmp_path_factory.mktemp("multi_worker")
    names = ["chief", "worker1"]
    procs = _start_workers(tmp_path, names, tmp_path / "cluster")
    procs.append(
        _start(
            tmp_path,
            "one_process",
            [*TRANSLATOR, "--distribute", "mirrored"]
            + ["--workdir", str(tmp_path / "one_process")],
            LOGICAL_CPUS="2",
        )
    )
    _finish(tmp_path, procs, [*names, "one_process"])
    return tmp_path


@pytest.mark.slow
@pytest.mark.tf_only
def test_two_workers_agree_with_each_other_and_with_one_process(cluster_run):
    chief = _weights(cluster_run, "chief")
    # Every step applies the same all-reduced gradient on both workers.
    _assert_same_weights(chief, _weights(cluster_run, "worker1"), atol=0.0)
    # One process, two replicas, the same per-replica batches 16 + 16: the
    # same sums but for float32 rounding (measured: 1.2e-7 after 40 steps,
    # and the epoch losses agree to every digit).
    one_process = _weights(cluster_run, "one_process")
    _assert_same_weights(chief, one_process, 1e-6, key_biases=False)
    history = json.loads((cluster_run / "cluster" / "history.json").read_text())
    alone = json.loads(
        (cluster_run / "one_process" / "history.json").read_text()
    )
    np.testing.assert_allclose(history["loss"], alone["loss"], rtol=1e-6)
    assert history["loss"][-1] < history["loss"][0]  # it trains


@pytest.mark.slow
@pytest.mark.tf_only
def test_only_the_chief_writes_the_work_directory(cluster_run):
    workdir = cluster_run / "cluster"
    chief = json.loads((cluster_run / "chief.json").read_text())
    other = json.loads((cluster_run / "worker1.json").read_text())
    written = [p for paths in chief.values() for p in paths]
    assert f"{workdir}/model.keras" in chief["save"]
    assert f"{workdir}/checkpoints/epoch_002.weights.h5" in written
    assert f"{workdir}/logs" in chief["tensorboard"]
    assert all(p.startswith(f"{workdir}/") for p in written)
    # The other worker saved the same files (its variables must take part
    # in every save), but into a temporary directory, since deleted.
    output = (cluster_run / "worker1.out").read_text()
    temporary = output.split("it writes to ")[1].split()[0]
    theirs = [p for paths in other.values() for p in paths]
    assert f"{temporary}/model.keras" in other["save"]
    assert f"{temporary}/logs" in other["tensorboard"]
    assert all(p.startswith(f"{temporary}/") for p in theirs), theirs
    assert not os.path.exists(temporary)
    # One TensorBoard writer: one event file per log.
    assert len(list((workdir / "logs" / "train").iterdir())) == 1


@pytest.mark.slow
@pytest.mark.tf_only
def test_a_killed_worker_resumes_to_the_same_weights(cluster_run, tmp_path):
    workdir = tmp_path / "killed"
    names = ["chief", "worker1"]
    procs = _start_workers(tmp_path, names, workdir)
    backup = workdir / "backup" / "training_metadata.json"
    deadline = time.time() + 600
    while not backup.exists():
        assert all(p.poll() is None for p in procs), "a worker ended early"
        assert time.time() < deadline, "no backup was written"
        time.sleep(0.05)
    procs[1].send_signal(signal.SIGKILL)  # worker 1 is lost mid-epoch
    procs[1].wait()
    time.sleep(2)
    assert procs[0].poll() is None or procs[0].returncode != 0
    procs[0].send_signal(signal.SIGKILL)  # and the job is restarted
    procs[0].wait()
    assert not (workdir / "model.keras").exists()

    procs = _start_workers(tmp_path, names, workdir)
    _finish(tmp_path, procs, names)
    steps = []
    for name in names:
        output = (tmp_path / f"{name}.out").read_text()
        assert "Resuming from step" in output, output[-2000:]
        steps.append(int(output.split("Resuming from step ")[1].split()[0]))
    assert steps[0] == steps[1] and 0 < steps[0] < 20  # mid-epoch 1
    # Restored weights, optimizer state and data position are exact.
    _assert_same_weights(
        _weights(cluster_run, "chief"),
        _weights(tmp_path, "chief"),
        1e-6,
        key_biases=False,
    )


# --- choices and errors (fast) ---------------------------------------------


def test_each_distribute_choice_needs_its_backend():
    harness.check_distribute("mirrored", "tensorflow")
    harness.check_distribute("model-parallel", "jax")
    harness.check_distribute("none", "torch")
    with pytest.raises(ValueError, match="distribute='mirrored'") as error:
        harness.check_distribute("mirrored", "jax")
    assert "KERAS_BACKEND=tensorflow" in str(error.value)
    assert "none, data-parallel, model-parallel" in str(error.value)
    with pytest.raises(ValueError, match="KERAS_BACKEND=jax"):
        harness.check_distribute("data-parallel", "tensorflow")
    with pytest.raises(ValueError, match="distribute='tpu'"):
        harness.check_distribute("tpu", "jax")


@pytest.mark.tf_only
def test_cli_rejects_a_jax_choice_on_tensorflow(tmp_path, capsys):
    status = cli.main(
        [*TRANSLATOR, "--distribute", "data-parallel"]
        + ["--workdir", str(tmp_path / "run")]
    )
    error = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert len(error) <= 2 and "Traceback" not in "\n".join(error)
    assert "--distribute='data-parallel'" in error[0]
    assert "KERAS_BACKEND=jax" in error[0]
    assert not (tmp_path / "run").exists()


@pytest.mark.tf_only
def test_cli_multi_worker_needs_tf_config(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    status = cli.main(
        [*TRANSLATOR, "--distribute", "multi-worker"]
        + ["--workdir", str(tmp_path / "run")]
    )
    error = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(error) <= 2
    assert "TF_CONFIG" in error[0] and "not set" in error[0]
    monkeypatch.setenv("TF_CONFIG", "{not json")
    status = cli.main([*TRANSLATOR, "--distribute", "multi-worker"])
    error = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and "Received: TF_CONFIG={not json" in error[0]


def test_the_chief_is_the_chief_task_or_worker_0(monkeypatch):
    def task(kind, index, jobs=("worker",)):
        cluster = {job: ["a:1", "b:2"] for job in jobs}
        config = {"cluster": cluster, "task": {"type": kind, "index": index}}
        monkeypatch.setenv("TF_CONFIG", json.dumps(config))
        return harness.is_chief("multi-worker")

    assert task("worker", 0)
    assert not task("worker", 1)
    assert task("chief", 0, jobs=("chief", "worker"))
    assert not task("worker", 0, jobs=("chief", "worker"))
    assert harness.is_chief("mirrored")  # one process: it writes


# --- JAX: keras.distribution on two virtual CPU devices ---------------------

JAX_SCRIPT = textwrap.dedent(
    """
    import dataclasses, json, pathlib, sys
    import jax, keras, numpy as np, tensorflow as tf
    from zoo import harness
    from zoo.data import START_ID
    from zoo.gpt import decode
    from zoo.gpt.config import PRESETS as GPT_PRESETS
    from zoo.gpt.model import build as build_gpt
    from zoo.transformer_translator.config import PRESETS
    from zoo.transformer_translator.decode import cached_decode_fn
    from zoo.transformer_translator.model import build, compile_model

    assert len(jax.devices()) == 2, jax.devices()
    config = PRESETS["tiny"]  # 2 heads, model 32, feed-forward 64
    rng = np.random.default_rng(0)
    source = rng.integers(1, 40, (64, 12)).astype("int32")
    target = rng.integers(3, 40, (64, 10)).astype("int32")
    target[:, 7:] = 0  # padding
    target_in = np.concatenate([np.ones((64, 1), "int32"), target[:, :-1]], 1)
    stream = (
        tf.data.Dataset.from_tensor_slices(((source, target_in), target))
        .batch(8, drop_remainder=True).repeat()
    )

    def spec(v):
        shard = v.value.addressable_shards[0].data.shape
        spec = getattr(v.value.sharding, "spec", "one device")
        return [str(spec), list(shard), list(v.shape)]

    out = {}
    for mode in ("none", "data-parallel", "model-parallel"):
        options = harness.RunOptions(distribute=mode, verbose=0)
        harness.setup(options)
        model = build(config, 40, 40)
        compile_model(model, config)
        history, _ = harness.fit(
            model, stream, 4, 2, pathlib.Path(sys.argv[1]) / mode, options)
        x = model((source[:8], target_in[:8]))
        out[mode] = {
            "loss": history["loss"],
            "batch_sharding": str(
                mode != "none"
                and keras.distribution.distribution()
                .get_data_layout((8, 12)).axes),
            # Paths without the model's own (numbered) name.
            "weights": {
                v.path.split("/", 1)[1]: spec(v) for v in model.weights},
        }
    # Cached greedy decoding of the model-parallel model under jax.jit
    # against the model re-run on every prefix.
    decode_fn = harness.compiled(cached_decode_fn(model, 6, end_id=-1))
    assert hasattr(decode_fn, "lower")  # a jax.jit function
    tokens, _ = decode_fn(source[:3])
    prefix = np.zeros((3, 0), "int32")
    for _ in range(6):
        start = np.full((3, 1), START_ID, "int32")
        logits = model((source[:3], np.concatenate([start, prefix], 1)))
        prefix = np.concatenate(
            [prefix, np.argmax(logits[:, -1], -1)[:, None].astype("int32")], 1)
    out["decoding"] = [np.asarray(tokens).tolist(), prefix.tolist()]
    # The modern GPT: SwiGLU gate, one key/value head (not divisible by
    # two devices: replicated), and generation under jax.jit.
    gpt = build_gpt(dataclasses.replace(
        GPT_PRESETS["tiny"], architecture="modern", num_key_value_heads=1), 320)
    out["gpt"] = {v.path.split("/", 1)[1]: spec(v) for v in gpt.weights}
    prompt = [[3, 40, 41, 42]]
    out["gpt_decoding"] = [
        decode.generate_ids(gpt, prompt, 5, jit_compile=True).tolist(),
        decode.full_pass_greedy(gpt, prompt, 5).tolist(),
    ]
    print("RESULT" + json.dumps(out))
    """
)


def _run_jax(code, *args, timeout=1800):
    env = dict(
        ENV,
        KERAS_BACKEND="jax",
        XLA_FLAGS="--xla_force_host_platform_device_count=2",
    )
    run = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    return run


@pytest.fixture(scope="module")
def jax_runs(tmp_path_factory):  # about 2 minutes on 2 idle cores
    tmp_path = tmp_path_factory.mktemp("jax")
    run = _run_jax(JAX_SCRIPT, str(tmp_path))
    return json.loads(run.stdout.split("RESULT")[1])


SHARDED = {  # path ending -> (sharding spec, shard shape) on 2 devices
    "query/kernel": ("P(None, 'model', None)", [32, 1, 16]),
    "key/kernel": ("P(None, 'model', None)", [32, 1, 16]),
    "value/kernel": ("P(None, 'model', None)", [32, 1, 16]),
    "query/bias": ("P('model', None)", [1, 16]),
    "attention_output/kernel": (
        "P('model', None, None)",
        [1, 16, 32],
    ),
    "intermediate_dense/kernel": ("P(None, 'model')", [32, 32]),
    "intermediate_dense/bias": ("P('model',)", [32]),
    "output_dense/kernel": ("P('model', None)", [32, 32]),
}


@pytest.mark.slow
def test_jax_data_and_model_parallel_match_one_device(jax_runs):
    one = jax_runs["none"]["loss"]
    assert one[-1] < one[0]  # it trains
    # The same global computation, partitioned: only the order of float32
    # sums changes (per-device partial sums, then an all-reduce), so the
    # epoch losses agree to a few ulps of ~3.6, far inside 1e-5.
    for mode in ("data-parallel", "model-parallel"):
        np.testing.assert_allclose(jax_runs[mode]["loss"], one, rtol=1e-5)
    assert jax_runs["data-parallel"]["batch_sharding"] == "('batch', None)"


@pytest.mark.slow
def test_jax_model_parallel_splits_heads_and_hidden_units(jax_runs):
    weights = jax_runs["model-parallel"]["weights"]
    block = "encoder/block_0/"
    for end, (spec, shard) in SHARDED.items():
        layer = "feed_forward/" if "dense" in end else "self_attention/"
        assert weights[block + layer + end][:2] == [spec, shard], end
    split = [p for p, (spec, shard, full) in weights.items() if shard != full]
    # 3 attention layers (encoder self, decoder self and cross) x 7 weights
    # (q/k/v kernels and biases, output kernel) + 2 feed-forwards x 3.
    assert len(split) == 3 * 7 + 2 * 3, split
    assert not any("embedding" in p or "norm" in p for p in split)
    for mode in ("none", "data-parallel"):  # replicated
        assert all(
            shard == full
            for _, shard, full in jax_runs[mode]["weights"].values()
        )
    gpt = jax_runs["gpt"]
    block = "decoder/block_0/"
    assert gpt[block + "feed_forward/gate_dense/kernel"][1] == [16, 16]
    assert gpt[block + "self_attention/query/kernel"][1] == [16, 1, 8]
    # One key/value head cannot be split over two devices: replicated.
    assert gpt[block + "self_attention/key/kernel"][1] == [16, 1, 8]


@pytest.mark.slow
def test_jax_cached_decoding_under_jit_matches_the_full_pass(jax_runs):
    cached, full = jax_runs["decoding"]
    assert cached == full
    cached, full = jax_runs["gpt_decoding"]
    assert cached == full


# The same command line on JAX as on TensorFlow, through the CLI.
@pytest.mark.slow
@pytest.mark.parametrize(
    "model, distribute",
    [("transformer", "data-parallel"), ("gpt", "model-parallel")],
)
def test_jax_cli_trains_with_the_same_command_line(tmp_path, model, distribute):
    tiny = ["--preset", "tiny", "--quiet"]
    if model == "transformer":
        tiny += ["--set", "max_train_pairs=320", "--set", "max_eval_pairs=8"]
    else:  # a small text: scoring all of Austen dominates otherwise
        text = tmp_path / "text.txt"
        words = "the cat sat on a mat and she was very happy with it".split()
        text.write_text(
            "\n\n".join(
                " ".join(words[(i * 7 + j) % len(words)] for j in range(40))
                for i in range(120)
            )
        )
        tiny += ["--data", str(text)]
    histories = {}
    for mode in ("none", distribute):
        workdir = tmp_path / mode
        code = (
            "import sys; from zoo import cli; sys.exit(cli.main(sys.argv[1:]))"
        )
        _run_jax(
            code,
            *["train", model, *tiny, "--distribute", mode],
            *["--workdir", str(workdir)],
            timeout=900,
        )
        assert (workdir / "model.keras").exists()
        histories[mode] = json.loads((workdir / "history.json").read_text())
    np.testing.assert_allclose(
        histories[distribute]["loss"], histories["none"]["loss"], rtol=1e-4
    )
