"""Jane Austen's six novels, read from the Debian package
`r-cran-janeaustenr` (1.0.0-1): long-form English for language models.

The texts are Project Gutenberg's (public domain; the R package that
bundles them is MIT, Julia Silge). They ship as an R lazy-load database
inside the package:

    r-cran-janeaustenr_1.0.0-1_all.deb          (an `ar` archive)
      data.tar.xz
        ./usr/lib/R/site-library/janeaustenr/data/Rdata.rdx   the index
        ./usr/lib/R/site-library/janeaustenr/data/Rdata.rdb   the books

`Rdata.rdx` is a gzipped R serialisation of `{book: (offset, length)}`;
each record of `Rdata.rdb` is a 4-byte big-endian size and a zlib stream
of one serialised character vector, a line of the book per element. The
PyPI package `rdata` parses the R serialisation.

Where the data comes from, in order:

1. `<data_dir>/austen-1.0.0/<book>.txt`, written by an earlier call and
   checked against a pinned sha256 on every load.
2. An installed package (`/usr/lib/R/site-library/janeaustenr/data/`).
3. `<data_dir>/r-cran-janeaustenr_1.0.0-1_all.deb`, fetched with
   `apt-get download r-cran-janeaustenr=1.0.0-1` (no root needed) when
   absent and `download=True`, checked against a pinned sha256. The
   package is read in Python (no `dpkg`, never installed).

Paragraphs: the lines of a book are grouped at blank lines and every run
of whitespace becomes one space (the texts use two spaces after a full
stop; the tokenizer would drop one anyway), so a paragraph is one line of
the cached file. Title pages and chapter headings stay.

The split is BY BOOK, fixed (`SPLITS`): train = Sense and Sensibility,
Pride and Prejudice, Mansfield Park, Emma (3.1M characters); validation =
Northanger Abbey (0.43M); test = Persuasion (0.46M). No paragraph,
character name or plot crosses splits, so validation measures how well a
model knows Austen's English rather than one book.
"""

import gzip
import io
import os
import struct
import subprocess
import tarfile
import warnings
import zlib
from pathlib import Path

from zoo.data.cache import default_data_dir
from zoo.data.cache import report
from zoo.data.cache import sha256_of_bytes
from zoo.data.cache import sha256_of_file
from zoo.data.sdist import DataUnavailableError
from zoo.data.text import TextSplits
from zoo.data.text import paragraphs

PACKAGE = "r-cran-janeaustenr"
VERSION = "1.0.0-1"
DEB_NAME = f"{PACKAGE}_{VERSION}_all.deb"
DEB_SHA256 = "df6bddf211906d1ff404f8ff662c21b34e6660e7f54a311084e749050c019c95"
DATA_MEMBER = "./usr/lib/R/site-library/janeaustenr/data/"
INSTALLED_DIR = Path("/usr/lib/R/site-library/janeaustenr/data")
CACHE_SUBDIR = "austen-1.0.0"
# book -> sha256 of its cached file (one paragraph a line, UTF-8).
BOOKS = {
    "sensesensibility": (
        "6603fb40144b8ff912a51546d892ec6eebb339933cb6b6fd9eca2177de49a44e"
    ),
    "prideprejudice": (
        "0afca23e40c7bac74ec3291ce1ccb40167d82cea5f15ae1d8a89bc62343a45a6"
    ),
    "mansfieldpark": (
        "5232f8e809704f68067ad20cd7191a58f433beccf73322e1db79af48b8dc1e82"
    ),
    "emma": (
        "0c59c31150a5053e59d926b2a6a0e429ee26f1518ff05bb3ff5ad54cf3a003f6"
    ),
    "northangerabbey": (
        "1429610acb1fbbbae9ef1dd28c93f69c40037ca708af5a7e99ab90cbdca9a545"
    ),
    "persuasion": (
        "f38b37ad6e7e3ea633c7c624530d80afd06aa54ee74450c2bdd5fd60239e52f1"
    ),
}
SPLITS = {
    "train": ("sensesensibility", "prideprejudice", "mansfieldpark", "emma"),
    "validation": ("northangerabbey",),
    "test": ("persuasion",),
}


def fetch_command(data_dir):
    """The shell command that fetches the package into `data_dir`."""
    return f"cd {data_dir} && apt-get download {PACKAGE}={VERSION}"


def _unavailable(what, data_dir, reason):
    return DataUnavailableError(
        f"{what}\nLooked in: {data_dir} and {INSTALLED_DIR}\n"
        f"Reason: {reason}\nFetch it by hand with:\n    "
        f"{fetch_command(data_dir)}\n(on any machine with Debian's package "
        f"index; then copy {DEB_NAME} into that directory)."
    )


def read_lazy_load_database(rdx_bytes, rdb_bytes):
    """`{name: list of str}` from an R lazy-load database (`.rdx`, `.rdb`)."""
    import rdata  # Deferred: only this fetch path needs it.

    def parse(data):
        with warnings.catch_warnings():  # "Unknown file type: assumed RDS"
            warnings.simplefilter("ignore", UserWarning)
            return rdata.conversion.convert(rdata.parser.parse_data(data))

    index = parse(gzip.decompress(rdx_bytes))
    books = {}
    for name, (offset, length) in index["variables"].items():
        record = rdb_bytes[int(offset) : int(offset) + int(length)]
        size = struct.unpack(">I", record[:4])[0]
        data = zlib.decompress(record[4:])
        if len(data) != size:
            raise ValueError(f"record {name!r}: {len(data)} bytes, not {size}")
        vector = parse(data)
        books[str(name)] = ["" if x is None else str(x) for x in vector]
    return books


def ar_members(data):
    """`{name: bytes}` of an `ar` archive (a .deb)."""
    if not data.startswith(b"!<arch>\n"):
        raise ValueError("not an ar archive")
    members, position = {}, 8
    while position + 60 <= len(data):
        header = data[position : position + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        start = position + 60
        members[name] = data[start : start + size]
        position = start + size + (size % 2)  # members are 2-byte aligned
    return members


def _database_from_deb(deb_bytes):
    members = ar_members(deb_bytes)
    name = next(n for n in members if n.startswith("data.tar"))
    files = {}
    with tarfile.open(fileobj=io.BytesIO(members[name]), mode="r:*") as tar:
        for suffix in ("Rdata.rdx", "Rdata.rdb"):
            files[suffix] = tar.extractfile(DATA_MEMBER + suffix).read()
    return files["Rdata.rdx"], files["Rdata.rdb"]


def _download(data_dir):
    data_dir.mkdir(parents=True, exist_ok=True)
    report(
        f"fetching Jane Austen's novels: {DEB_NAME} (1.6 MB) from the Debian "
        f"archive (apt-get download {PACKAGE}={VERSION}) into {data_dir}"
    )
    try:
        done = subprocess.run(
            ["apt-get", "download", f"{PACKAGE}={VERSION}"],
            cwd=data_dir,
            capture_output=True,
            text=True,
            timeout=600,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise DataUnavailableError(
            f"`apt-get download` failed: {error}"
        ) from None
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip()[-1000:]
        raise DataUnavailableError(f"`apt-get download` failed:\n{tail}")


def _database(data_dir, download):
    """`(rdx, rdb)` bytes: the installed package, else the verified .deb."""
    if (INSTALLED_DIR / "Rdata.rdb").is_file():
        return (
            (INSTALLED_DIR / "Rdata.rdx").read_bytes(),
            (INSTALLED_DIR / "Rdata.rdb").read_bytes(),
        )
    deb = data_dir / DEB_NAME
    if not deb.is_file():
        missing = f"The Jane Austen package {DEB_NAME} is missing."
        if not download:
            raise _unavailable(missing, data_dir, "download=False")
        try:
            _download(data_dir)
        except DataUnavailableError as error:
            raise _unavailable(missing, data_dir, str(error)) from None
        if not deb.is_file():
            raise _unavailable(missing, data_dir, "apt-get wrote no file")
    digest = sha256_of_file(deb)
    if digest != DEB_SHA256:
        raise _unavailable(
            f"{deb} failed its sha256 check (expected {DEB_SHA256}, got "
            f"{digest}); delete it and fetch it again.",
            data_dir,
            "checksum mismatch",
        )
    report(f"  {DEB_NAME}: sha256 verified; cached as {deb}")
    return _database_from_deb(deb.read_bytes())


def _extract(data_dir, download):
    rdx, rdb = _database(data_dir, download)
    books = read_lazy_load_database(rdx, rdb)
    cache = data_dir / CACHE_SUBDIR
    cache.mkdir(parents=True, exist_ok=True)
    for name, digest in BOOKS.items():
        content = "".join(p + "\n" for p in paragraphs(books[name]))
        content = content.encode("utf-8")
        if sha256_of_bytes(content) != digest:
            raise _unavailable(
                f"The text of {name} failed its sha256 check.",
                data_dir,
                "checksum mismatch",
            )
        path = cache / f"{name}.txt"
        partial = path.with_suffix(f".tmp{os.getpid()}")
        partial.write_bytes(content)
        os.replace(partial, path)


def book_path(name, data_dir=None, download=True):
    """Path of a verified cached book, one paragraph a line.

    Raises:
        DataUnavailableError: missing and not fetchable, or a checksum fails.
    """
    if name not in BOOKS:
        raise ValueError(
            f"`name` must be one of {list(BOOKS)}. Received: name={name!r}"
        )
    data_dir = default_data_dir() if data_dir is None else Path(data_dir)
    path = data_dir / CACHE_SUBDIR / f"{name}.txt"
    if path.is_file() and sha256_of_file(path) == BOOKS[name]:
        return path
    _extract(data_dir, download)
    return path


def read_book(name, data_dir=None, download=True):
    """The paragraphs of one novel, in order."""
    text = book_path(name, data_dir, download).read_text("utf-8")
    return text.split("\n")[:-1]


def load_austen(data_dir=None, download=True):
    """The fixed by-book `TextSplits` of paragraphs (see the docstring)."""
    return TextSplits(
        *(
            [
                p
                for book in SPLITS[split]
                for p in read_book(book, data_dir, download)
            ]
            for split in TextSplits._fields
        )
    )


__all__ = [
    "BOOKS",
    "SPLITS",
    "book_path",
    "load_austen",
    "read_book",
    "read_lazy_load_database",
]
