"""Command-line text to zoo configs, work-directory checks, `UsageError`.

`parse_override("epochs=3")` reads one `--set FIELD=VALUE`;
`replace_checked(config, changes)` applies such changes to a frozen config
dataclass after checking each value against the field's type, so that a bad
value (`--set epochs=three`) stops the run before any work starts.
`check_fields(config, ...)`, called by every zoo config's `__post_init__`,
applies the same type rules (and the config's range rules) to a config
built in Python, so a bad value fails the same way from both.
`read_config`, `check_saved_models` and `check_backup` check a work
directory (see `zoo.harness`) before a command loads anything from it;
`clear_run` is `train --restart`.

Every user mistake the zoo can name (a bad argument, a missing or damaged
work directory) is a `UsageError`: the CLI prints its message and exits with
status 2 instead of a traceback. Light on purpose (no TensorFlow), so that
`--help` and these checks answer at once.
"""

import argparse
import dataclasses
import json
import pathlib
import shutil
import types
import typing
import zipfile


class UsageError(ValueError):
    """A user mistake; the message names the argument or file and the fix."""


def parse_override(text):
    """`"field=value"` -> `(field, value)`, the value read as JSON if it is.

    `epochs=3` gives 3, `use_se=false` False, `channels=[8,16]` a list,
    `data=en-ja` the string. Used as an argparse `type=`.
    """
    if "=" not in text:
        raise argparse.ArgumentTypeError(
            f"--set takes FIELD=VALUE. Received: {text!r}"
        )
    key, value = text.split("=", 1)
    try:
        value = json.loads(value)
    except json.JSONDecodeError:
        pass  # a plain string
    return key.strip(), value


def _type_name(annotation):
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _coerce(annotation, value):
    """`value` as an instance of `annotation`; raises TypeError if it is not.

    Accepts what JSON gives on the command line: an int for a float field,
    a list for a tuple field, an int for a string field (a name like 2024).
    """
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(option, value)
            except TypeError:
                continue
        raise TypeError
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise TypeError
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)  # 1e3
        raise TypeError
    if annotation is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise TypeError
    if annotation is str:
        if isinstance(value, str):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        raise TypeError
    if annotation is tuple or origin is tuple:
        if not isinstance(value, list | tuple):
            raise TypeError
        items = typing.get_args(annotation)
        if len(items) == 2 and items[1] is Ellipsis:
            return tuple(_coerce(items[0], item) for item in value)
        return tuple(value)
    return value  # an annotation this helper does not know: unchecked


def _check_range(name, value, annotation, rule):
    if value is None:
        return  # an optional field left unset
    integer = annotation is int or int in typing.get_args(annotation)
    kind = "integer" if integer else "number"
    if rule == "positive" and not value > 0:
        what = f"a positive {kind}"
    elif rule == "non_negative" and not value >= 0:
        what = f"a non-negative {kind}"
    elif rule == "fraction" and not 0 <= value < 1:
        what = "a number in [0, 1)"
    else:
        return
    raise ValueError(f"`{name}` must be {what}. Received: {name}={value!r}")


def check_fields(
    config, *, positive=(), non_negative=(), fractions=(), choices=None
):
    """Validate a config dataclass in its `__post_init__`: types, ranges.

    Types come from the dataclass annotations and follow the rules
    `replace_checked` applies at the CLI: a bool is rejected for an int or
    float field, an int is accepted for a float field, a list for a tuple
    field (each item checked for `tuple[int, ...]`), None only for an
    optional field. The accepted value is stored converted (also on a
    frozen dataclass), so a config read back from config.json gets its
    tuples back. Then each field named in `positive` must be > 0, in
    `non_negative` >= 0, in `fractions` in [0, 1), and `choices` maps a
    field to its allowed values; None passes the range checks. Checks that
    relate two fields stay in the config's `__post_init__`.

    Args:
        config: a dataclass instance (`self` in `__post_init__`).
        positive, non_negative, fractions: field names.
        choices: `{field: allowed values}`.

    Raises:
        ValueError: names the field and echoes the value
            (`` `epochs` must be a positive integer. Received: epochs=0 ``).
    """
    hints = typing.get_type_hints(type(config))
    for field in dataclasses.fields(config):
        if not field.init or field.name not in hints:
            continue
        annotation, value = hints[field.name], getattr(config, field.name)
        try:
            checked = _coerce(annotation, value)
        except TypeError:
            raise ValueError(
                f"`{field.name}` takes a value of type "
                f"{_type_name(annotation)}. Received: {field.name}={value!r}"
            ) from None
        if checked is not value:
            object.__setattr__(config, field.name, checked)
    for rule, names in (
        ("positive", positive),
        ("non_negative", non_negative),
        ("fraction", fractions),
    ):
        for name in names:
            value = getattr(config, name)
            _check_range(name, value, hints[name], rule)
    for name, allowed in (choices or {}).items():
        value = getattr(config, name)
        if value not in allowed:
            raise ValueError(
                f"`{name}` must be one of {list(allowed)}. "
                f"Received: {name}={value!r}"
            )


def replace_checked(config, changes, what="--set"):
    """`dataclasses.replace(config, **changes)` with every value type-checked.

    Args:
        config: a dataclass instance (a zoo model's preset).
        changes: `{field: value}`, values as `parse_override` reads them.
        what: how the user gave the changes, for the messages.

    Returns:
        The new config.

    Raises:
        UsageError: an unknown field, a value of the wrong type, or a value
            the config's own validation (`__post_init__`) rejects.
    """
    fields = {f.name: f for f in dataclasses.fields(config) if f.init}
    unknown = sorted(set(changes) - set(fields))
    if unknown:
        raise UsageError(
            f"{what}: unknown config field(s) {', '.join(unknown)}. "
            f"Fields: {', '.join(sorted(fields))}."
        )
    hints = typing.get_type_hints(type(config))
    checked = {}
    for name, value in changes.items():
        annotation = hints.get(name, fields[name].type)
        try:
            checked[name] = _coerce(annotation, value)
        except TypeError:
            raise UsageError(
                f"{what}: {name} takes a value of type "
                f"{_type_name(annotation)}. Received: {name}={value!r}"
            ) from None
    try:
        return dataclasses.replace(config, **checked)
    except ValueError as error:  # the config's own validation
        raise UsageError(f"{what}: {error}") from None


def read_config(workdir):
    """The config.json record of a work directory.

    Raises:
        UsageError: the directory or its config.json is missing or damaged.
    """
    workdir = pathlib.Path(workdir)
    path = workdir / "config.json"
    if not workdir.is_dir():
        raise UsageError(
            f"work directory `{workdir}` does not exist: pass the --workdir "
            "of a `python -m zoo train` run."
        )
    if not path.exists():
        raise UsageError(
            f"`{workdir}` has no config.json, so it is not a zoo work "
            "directory: pass the --workdir of a `python -m zoo train` run."
        )
    try:
        record = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UsageError(
            f"`{path}` is not valid JSON ({error}): the work directory is "
            "damaged; train again into a new --workdir."
        ) from None
    if not isinstance(record, dict) or not {"model", "config"} <= set(record):
        raise UsageError(
            f"`{path}` lacks the `model` and `config` entries a zoo run "
            "writes: the work directory is damaged; train again into a new "
            "--workdir."
        )
    return record


def check_saved_models(workdir):
    """Check that every `<workdir>/*.keras` file is a sound archive.

    A `.keras` file is a zip archive; a truncated or overwritten one fails
    here with a message naming it, instead of deep inside Keras.

    Raises:
        UsageError: no `.keras` file (the run did not finish) or a damaged
            one.
    """
    workdir = pathlib.Path(workdir)
    paths = sorted(workdir.glob("*.keras"))
    if not paths:
        raise UsageError(
            f"`{workdir}` has no saved model (*.keras): its training run did "
            "not finish; rerun the same `python -m zoo train` command with "
            f"--workdir {workdir} to resume it."
        )
    for path in paths:
        try:
            with zipfile.ZipFile(path) as archive:
                broken = archive.testzip()
        except (zipfile.BadZipFile, OSError) as error:
            broken = error
        if broken is not None:
            raise UsageError(
                f"`{path}` is damaged (truncated or not a .keras archive: "
                f"{broken}); copy it again or retrain into a new --workdir."
            )


def _unreadable_weights(path):
    """None if `path` opens as an HDF5 weights file, else the reason."""
    import h5py

    try:
        with h5py.File(path, "r"):
            return None
    except OSError as error:
        return str(error)


def check_backup(workdir):
    """Check that an interrupted run's backup can be resumed from.

    Raises:
        UsageError: neither backup weights file opens; the message says to
            delete the backup or pass `--restart`.
    """
    backup = pathlib.Path(workdir) / "backup"
    latest = backup / "latest.weights.h5"
    if not latest.exists():
        return
    reason = _unreadable_weights(latest)
    previous = pathlib.Path(f"{latest}.bkp")
    if reason and (not previous.exists() or _unreadable_weights(previous)):
        raise corrupt_backup_error(workdir, latest, reason)


def corrupt_backup_error(workdir, path, reason):
    backup = pathlib.Path(workdir) / "backup"
    return UsageError(
        f"cannot resume: the backup weights `{path}` are unreadable "
        f"({reason}).\nTo start the run over, delete `{backup}` or pass "
        "`--restart`."
    )


def clear_run(workdir):
    """Delete a work directory's backup, checkpoints and logs (`--restart`).

    The final model, metrics and plots are overwritten by the new run.
    """
    workdir = pathlib.Path(workdir)
    for sub in ("backup", "checkpoints", "logs"):
        shutil.rmtree(workdir / sub, ignore_errors=True)
