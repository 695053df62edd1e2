"""`python -m zoo`: user mistakes exit 2 with a message, never a traceback;
the lazy registry, `sample`, and the end-of-run summary."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from zoo import config_utils
from zoo.cli import main
from zoo.config_utils import UsageError
from zoo.config_utils import replace_checked
from zoo.rnn_translator import PRESETS as RNN_PRESETS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
ENV = dict(os.environ, OMP_NUM_THREADS="1")  # as a user runs it
RNN_TINY = ["train", "rnn-translator", "--preset", "tiny", "--quiet"]
SMALL = ["--set", "max_train_pairs=64", "--set", "max_eval_pairs=4"]


def _zoo(args):
    return subprocess.run(
        [sys.executable, "-m", "zoo", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=ENV,
        timeout=300,
    )


def _fails(capsys, args, *fragments):
    """`main(args)` exits 2 and its stderr holds every fragment."""
    assert main(args) == 2
    err = capsys.readouterr().err
    for fragment in fragments:
        assert fragment in err, err
    assert "Traceback" not in err
    return err


def _workdir(path, model="rnn-translator"):
    """A work directory with a valid config.json, nothing else."""
    path.mkdir(parents=True, exist_ok=True)
    record = {"model": model, "config": {}, "options": {}}
    (path / "config.json").write_text(json.dumps(record))
    return path


# Help and registry ----------------------------------------------------------


def test_help_lists_the_models_without_importing_tensorflow():
    script = (
        "import sys; from zoo.cli import main; code = main(['--help']); "
        "print('LOADED', sorted({'tensorflow', 'keras', 'zoo.sagan'} & "
        "set(sys.modules)), code)"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=ENV,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    for name in ("rnn-translator", "transformer", "bert-mlm", "sagan"):
        assert f"\n  {name} " in out.stdout
    assert "LOADED [] 0" in out.stdout


# Bad arguments ---------------------------------------------------------------


def test_unknown_model(capsys):
    _fails(capsys, ["train", "gpt-9"], "invalid choice: 'gpt-9'")


def test_unknown_preset(capsys, tmp_path):
    _fails(
        capsys,
        RNN_TINY[:2] + ["--preset", "huge", "--workdir", str(tmp_path / "w")],
        "--preset must be one of tiny, cpu, gpu",
        "Received: --preset huge",
    )
    assert not (tmp_path / "w").exists()


def test_unknown_set_key(capsys, tmp_path):
    _fails(
        capsys,
        RNN_TINY + ["--set", "epoch=3", "--workdir", str(tmp_path / "w")],
        "unknown config field(s) epoch.",
        "epochs",  # the field list names the right one
    )
    assert not (tmp_path / "w").exists()


def test_bad_set_value_stops_before_any_work_without_a_traceback(tmp_path):
    workdir = tmp_path / "w"
    run = _zoo(RNN_TINY + ["--set", "epochs=three", "--workdir", str(workdir)])
    assert run.returncode == 2
    # One line, and nothing else: TensorFlow's native start-up notices
    # (absl preamble, "Could not find cuda drivers", ...) are held back.
    assert run.stderr.splitlines() == [
        "python -m zoo train: error: rnn-translator config: epochs takes a "
        "value of type int. Received: epochs='three'"
    ]
    assert not workdir.exists()  # no half-made work directory


def test_value_rejected_by_the_config_itself(capsys, tmp_path):
    _fails(
        capsys,
        RNN_TINY + ["--set", "variant=fancy", "--workdir", str(tmp_path)],
        "variant='fancy'",
    )


def test_replace_checked_coerces_command_line_values():
    tiny = RNN_PRESETS["tiny"]
    config = replace_checked(tiny, {"learning_rate": 1, "epochs": 3})
    assert config.learning_rate == 1.0 and isinstance(
        config.learning_rate, float
    )
    for changes, message in (
        ({"epochs": 2.5}, "epochs takes a value of type int"),
        ({"epochs": True}, "epochs takes a value of type int"),
        ({"learning_rate": "fast"}, "learning_rate takes a value of type"),
        ({"variant": None}, "variant takes a value of type str"),
    ):
        with pytest.raises(UsageError, match=message):
            replace_checked(tiny, changes)


def test_replace_checked_optional_and_tuple_fields():
    from zoo.sagan import PRESETS

    tiny = PRESETS["tiny"]
    config = replace_checked(
        tiny, {"ema_decay": None, "generator_channels": [8, 8, 4, 4]}
    )
    assert config.ema_decay is None
    assert config.generator_channels == (8, 8, 4, 4)
    with pytest.raises(UsageError, match="attention_resolution takes"):
        replace_checked(tiny, {"attention_resolution": "16x16"})
    with pytest.raises(UsageError, match="conditional takes"):
        replace_checked(tiny, {"conditional": 1})


# Bad work directories -------------------------------------------------------


def test_missing_workdir(capsys, tmp_path):
    _fails(
        capsys,
        ["evaluate", str(tmp_path / "nowhere")],
        f"`{tmp_path / 'nowhere'}` does not exist",
        "pass the --workdir of a `python -m zoo train` run",
    )


def test_workdir_without_config(capsys, tmp_path):
    _fails(
        capsys,
        ["translate", str(tmp_path), "hello"],
        f"`{tmp_path}` has no config.json",
    )


def test_config_that_is_not_json(capsys, tmp_path):
    (tmp_path / "config.json").write_text('{"model": ')
    _fails(
        capsys,
        ["evaluate", str(tmp_path)],
        f"`{tmp_path / 'config.json'}` is not valid JSON",
        "train again into a new --workdir",
    )


def test_workdir_without_a_saved_model(capsys, tmp_path):
    _fails(
        capsys,
        ["evaluate", str(_workdir(tmp_path))],
        "has no saved model (*.keras): its training run did not finish",
    )


def test_corrupt_backup_says_delete_it_or_restart(tmp_path):
    backup = _workdir(tmp_path / "w") / "backup"
    backup.mkdir()
    (backup / "latest.weights.h5").write_bytes(b"not hdf5")
    run = _zoo(RNN_TINY + ["--workdir", str(tmp_path / "w")])
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert "latest.weights.h5` are unreadable" in run.stderr
    assert f"delete `{backup}` or pass `--restart`" in run.stderr


def test_sample_needs_a_sagan_workdir(capsys, tmp_path):
    workdir = _workdir(tmp_path)
    keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]).save(
        workdir / "model.keras"
    )
    _fails(
        capsys,
        ["sample", str(workdir)],
        "`sample` needs a sagan work directory",
        "holds a rnn-translator run",
    )


# A real tiny run: --restart, the summary, evaluate, a damaged model.keras ---


def test_restart_trains_then_summarises_and_damage_is_named(capsys, tmp_path):
    workdir = _workdir(tmp_path / "run")
    for sub in ("backup", "checkpoints"):
        (workdir / sub).mkdir()
    (workdir / "backup" / "latest.weights.h5").write_bytes(b"not hdf5")
    stale = workdir / "checkpoints" / "epoch_009.weights.h5"
    stale.write_bytes(b"old")
    args = RNN_TINY + SMALL + ["--set", "epochs=1", "--restart"]
    assert main(args + ["--workdir", str(workdir)]) == 0
    out = capsys.readouterr().out
    assert not stale.exists() and not (workdir / "backup").exists()
    summary = out.split("== rnn-translator: done in")[1]
    assert f"written to {workdir.resolve()}:" in summary
    assert "model.keras" in summary and "metrics.json" in summary
    assert "test_pairs" in summary  # a metric
    assert "{" not in summary  # no JSON dump

    assert main(["evaluate", str(workdir)]) == 0
    assert "metrics:" in capsys.readouterr().out

    model = workdir / "model.keras"
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    _fails(
        capsys,
        ["translate", str(workdir), "May 5, 2024"],
        f"`{model}` is damaged",
    )


# SAGAN samples -------------------------------------------------------------


@pytest.mark.slow  # trains a tiny SE-ResNet and SAGAN (about 45 s)
def test_sample_writes_a_grid_from_a_tiny_sagan(capsys, tmp_path):
    from zoo import se_resnet

    feature_net = tmp_path / "feature-net"
    feature_net.mkdir()
    keras.utils.set_random_seed(0)
    classifier = se_resnet.build_classifier(se_resnet.PRESETS["tiny"])
    classifier.save(feature_net / "model.keras")
    workdir = tmp_path / "sagan"
    train = ["train", "sagan", "--preset", "tiny", "--quiet"]
    train += ["--set", f"feature_net={feature_net}"]
    assert main(train + ["--workdir", str(workdir)]) == 0
    capsys.readouterr()

    assert main(["sample", str(workdir), "--num-images", "30"]) == 0
    default = workdir / "plots" / "samples_seed1234.png"
    assert f"wrote {default}" in capsys.readouterr().out
    grid = _png(default)
    for seed, name in ((7, "a.png"), (7, "b.png"), (8, "c.png")):
        args = ["sample", str(workdir), "--num-images", "30"]
        args += ["--seed", str(seed), "--out", str(tmp_path / name)]
        assert main(args) == 0
    a, b, c = (_png(tmp_path / name) for name in ("a.png", "b.png", "c.png"))
    assert a.shape == grid.shape and a.shape[0] < a.shape[1]  # 3 rows of 10
    np.testing.assert_array_equal(a, b)  # the seed fixes the grid
    assert np.abs(a - c).max() > 0
    _fails(
        capsys,
        ["sample", str(workdir), "--num-images", "15"],
        "--num-images must be a positive multiple of 10",
    )


def _png(path):
    from matplotlib.image import imread

    return imread(path)


def test_check_saved_models_accepts_a_sound_archive(tmp_path):
    keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]).save(
        tmp_path / "model.keras"
    )
    config_utils.check_saved_models(tmp_path)  # no error
