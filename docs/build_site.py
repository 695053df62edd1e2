"""Build the documentation site into build/site/ (docs/site.md).

    python docs/build_site.py             # small mode (what CI builds)
    python docs/build_site.py --full      # full mode, for a published build

1. Execute every tutorial notebook (`tutorials/{en,ja}/NN_*.ipynb`, or the
   `py:percent` source where no notebook exists yet) with nbclient, in small
   mode (`KERAS_ATTN_TUTORIAL_SMALL=1`) unless `--full`, with the
   exercises' reference solutions (`KERAS_ATTN_TUTORIAL_SOLUTIONS=1`) so
   that every cell after an exercise runs too. Results are cached
   in build/site_cache/<mode>/ and reused while the notebook and the code it
   runs (keras_attn/, tutorials/exercises/, and zoo/ once a tutorial
   imports it) are unchanged.
2. Stage the pages into build/site_src/ (mkdocs.yml's `docs_dir`), English
   at the root and Japanese under ja/: README.md as the home page, the
   executed notebooks, tutorials/*.md, docs/*.md with docs/img/, generated
   API pages (mkdocstrings), MathJax. Links between repository files are
   rewritten to the pages they became; a repository file a page links to
   that is not a page (zoo/README.md, a .py) is copied into the site, so no
   link leaves it.
3. Write the nav (from globs, so new tutorials and pages appear by
   themselves) and run `mkdocs build` (strict: a warning is an error).
"""

import argparse
import ast
import concurrent.futures
import hashlib
import json
import logging
import os
import posixpath
import re
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUILD = REPO / "build"
SRC = BUILD / "site_src"  # mkdocs.yml docs_dir
SITE = BUILD / "site"  # mkdocs.yml site_dir
CACHE = BUILD / "site_cache"
LANGUAGES = ("en", "ja")  # en is the default language, at the site root
NOTEBOOK = re.compile(r"[0-9][0-9]_.+")
# What a tutorial runs: a change here re-executes every notebook (zoo/ only
# when a tutorial imports it).
CODE_DIRS = ("keras_attn", "tutorials/exercises")

API_PAGES = {  # page -> (title, Japanese title, objects)
    "layers.md": ("Layers", "レイヤー", None),  # None: keras_attn's classes
    "ops.md": ("keras_attn.ops", None, ["keras_attn.ops"]),
    "generation.md": (
        "keras_attn.generation",
        None,
        ["keras_attn.generation"],
    ),
    "visualize.md": ("keras_attn.visualize", None, ["keras_attn.visualize"]),
}
API_INDEX = {
    "en": (
        "# API reference\n\n"
        "Generated from the docstrings of `keras_attn`.\n\n"
        "* [Layers](layers.md): every public layer and the KV-cache types\n"
        "* [keras_attn.ops](ops.md): the attention core and the mask "
        "helpers\n"
        "* [keras_attn.generation](generation.md): greedy search, beam "
        "search and sampling over a step function\n"
        "* [keras_attn.visualize](visualize.md): attention plots\n"
    ),
    "ja": (
        "# API リファレンス\n\n"
        "`keras_attn` の docstring から生成しています（説明文は英語です）。\n\n"
        "* [レイヤー](layers.md): 公開レイヤーすべてと KV キャッシュの型\n"
        "* [keras_attn.ops](ops.md): アテンションの中核とマスクの補助関数\n"
        "* [keras_attn.generation](generation.md): ステップ関数を使う"
        "貪欲探索・ビームサーチ・サンプリング\n"
        "* [keras_attn.visualize](visualize.md): アテンションの図\n"
    ),
}

# MathJax 3 typesets only the math of notebook markdown cells and of
# pymdownx.arithmatex, so a `$HOME` in a page's prose stays text.
MATHJAX_CONFIG = """window.MathJax = {
  tex: {
    inlineMath: [["$", "$"], ["\\\\(", "\\\\)"]],
    displayMath: [["$$", "$$"], ["\\\\[", "\\\\]"]],
    processEscapes: true,
    processEnvironments: true,
  },
  startup: {
    typeset: false,
    pageReady: () => MathJax.startup.defaultPageReady().then(() =>
      MathJax.typesetPromise([
        ...document.querySelectorAll(".jp-MarkdownOutput, .arithmatex"),
      ])
    ),
  },
};
"""
MATHJAX_PARTS = ("tex-svg.js", "input/tex/extensions", "output/svg", "ui")


def log(message):
    print(f"build_site: {message}", flush=True)


# 1. Execute the notebooks ---------------------------------------------


def tutorial_sources(language):
    """{stem: path} of one edition: the .ipynb, else the py:percent source."""
    folder = REPO / "tutorials" / language
    found = {}
    for suffix in (".py", ".ipynb"):  # a notebook wins over its source
        for path in sorted(folder.glob(f"*{suffix}")):
            if NOTEBOOK.fullmatch(path.stem):
                found[path.stem] = path
    return dict(sorted(found.items()))


def code_fingerprint():
    folders = list(CODE_DIRS)
    sources = (REPO / "tutorials").glob("*/[0-9][0-9]_*.py")
    if any(
        re.search(r"^\s*(from|import) zoo\b", path.read_text("utf-8"), re.M)
        for path in sources
    ):
        folders.append("zoo")
    digest = hashlib.sha256()
    for folder in folders:
        for path in sorted((REPO / folder).rglob("*.py")):
            digest.update(str(path.relative_to(REPO)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def read_notebook(path):
    import jupytext
    import nbformat

    if path.suffix == ".py":
        return jupytext.read(path)
    return nbformat.read(path, as_version=4)


def notebook_key(path, mode, fingerprint):
    digest = hashlib.sha256(path.read_bytes())
    digest.update(f"{mode}\0solutions\0{fingerprint}".encode())
    return digest.hexdigest()


def execute_notebook(path, out_path, mode, key, timeout):
    """Run one notebook in a fresh kernel and write it, outputs and all."""
    import nbclient
    import nbformat

    os.environ.update(
        TF_CPP_MIN_LOG_LEVEL="3",
        MPLBACKEND="Agg",
        KERAS_BACKEND="tensorflow",
        PYDEVD_DISABLE_FILE_VALIDATION="1",
        KERAS_ATTN_TUTORIAL_SMALL="1" if mode == "small" else "0",
        # The exercises are left blank for the reader; the site shows every
        # later cell's output, so they run with the reference solution (the
        # notebook prints that it swapped it in), as the tests do.
        KERAS_ATTN_TUTORIAL_SOLUTIONS="1",
    )
    notebook = read_notebook(path)
    start = time.monotonic()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    # The kernel's own stderr (TensorFlow's start-up lines) goes to a log
    # beside the result; what the cells print is in the notebook.
    with open(out_path.with_suffix(".kernel.log"), "w") as kernel_log:
        nbclient.NotebookClient(
            notebook,
            timeout=timeout,
            kernel_name="python3",
            resources={"metadata": {"path": str(path.parent)}},
        ).execute(stderr=kernel_log)
    seconds = round(time.monotonic() - start, 1)
    notebook.metadata["keras_attn_site"] = {
        "key": key,
        "mode": mode,
        "seconds": seconds,
    }
    tmp = out_path.with_suffix(".tmp")
    nbformat.write(notebook, tmp)
    tmp.replace(out_path)
    return seconds


def cached_key(path):
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))["metadata"]
        return meta["keras_attn_site"]["key"]
    except (OSError, ValueError, KeyError):
        return None


def execute_all(mode, jobs, reuse_cache, timeout):
    """{(language, stem): executed .ipynb path}, executing what is stale."""
    fingerprint = code_fingerprint()
    executed, todo = {}, []
    for language in LANGUAGES:
        for stem, path in tutorial_sources(language).items():
            out = CACHE / mode / language / f"{stem}.ipynb"
            executed[language, stem] = out
            key = notebook_key(path, mode, fingerprint)
            old = cached_key(out)
            if old == key or (reuse_cache and old is not None):
                continue
            todo.append((path, out, key))
    log(
        f"{len(executed)} notebooks ({mode} mode): {len(todo)} to execute, "
        f"{len(executed) - len(todo)} cached"
    )
    if not todo:
        return executed
    start = time.monotonic()
    failures = []
    with concurrent.futures.ProcessPoolExecutor(jobs) as pool:
        futures = {
            pool.submit(execute_notebook, path, out, mode, key, timeout): path
            for path, out, key in todo
        }
        for future in concurrent.futures.as_completed(futures):
            path = futures[future].relative_to(REPO)
            try:
                log(f"  executed {path} in {future.result()} s")
            except Exception as error:  # report every failing notebook
                failures.append(f"{path}: {type(error).__name__}: {error}")
    if failures:
        raise SystemExit(
            "build_site: these notebooks failed to execute:\n"
            + "\n\n".join(failures)
        )
    log(f"executed {len(todo)} notebooks in {time.monotonic() - start:.0f} s")
    return executed


# 2. Stage the pages ---------------------------------------------------


class Site:
    """The staged pages: repository file -> {language: staged path}."""

    def __init__(self):
        self.where = {}  # repo path (posix) -> {language: staged path}
        self.staged = {language: set() for language in LANGUAGES}
        self.queue = []  # (language, staged path, repo path, kind, data)

    def add(
        self,
        language,
        staged,
        repo_path=None,
        kind="md",
        data=None,
        register=True,
    ):
        """Stage a page or file; `kind` is md, ipynb, copy or text."""
        self.staged[language].add(staged)
        if repo_path is not None and register:
            self.where.setdefault(repo_path, {})[language] = staged
        self.queue.append((language, staged, repo_path, kind, data))

    def url(self, language, staged):
        """The site URL (directory style) of a staged page."""
        prefix = "" if language == LANGUAGES[0] else f"{language}/"
        stem, suffix = posixpath.splitext(staged)
        if suffix not in (".md", ".ipynb"):
            return prefix + staged
        if posixpath.basename(stem) in ("index", "README"):
            stem = posixpath.dirname(stem)
        return prefix + (stem + "/" if stem else "")

    def link(self, target, repo_path, language, staged):
        """Rewrite one link of the page `staged` made from `repo_path`."""
        if re.match(r"^([a-z][a-z0-9+.-]*:|#|/)", target, re.I):
            return target
        path, hash_, fragment = target.partition("#")
        resolved = posixpath.normpath(
            posixpath.join(posixpath.dirname(repo_path), path)
        )
        if resolved.startswith("../") or not (REPO / resolved).exists():
            return target  # mkdocs reports it (strict: fails the build)
        if (REPO / resolved).is_dir():
            if not (REPO / resolved / "README.md").is_file():
                return target
            resolved = posixpath.join(resolved, "README.md")
        if resolved not in self.where:  # a repository file, not yet a page
            if resolved.endswith(".md"):  # a page, in every language
                for each in LANGUAGES:
                    self.add(each, f"repo/{resolved}", resolved)
            else:  # a file, served once for all
                self.add(LANGUAGES[0], f"repo/{resolved}", resolved, "copy")
        places = self.where[resolved]
        default = LANGUAGES[0]
        if language in places:
            other = None
            to = places[language]
        elif default in places and places[default] not in self.staged[language]:
            other = None  # a file (an image), served for every language
            to = places[default]
        else:  # a page of the other language: link its URL
            other = next(iter(places))
            to = places[other]
        if other is None:
            relative = posixpath.relpath(to, posixpath.dirname(staged) or ".")
        else:  # URLs: a page's URL is a directory (use_directory_urls)
            page_url = "/" + self.url(language, staged)
            target_url = "/" + self.url(other, to)
            relative = posixpath.relpath(target_url, page_url)
            if target_url.endswith("/"):
                relative += "/"
        return relative + hash_ + fragment

    def rewrite_markdown(self, text, repo_path, language, staged):
        """Rewrite the links of markdown text outside code."""
        if repo_path is None:
            return text
        link = re.compile(
            r"(\[[^\]]*\]\()(<[^>]*>|[^)\s]+)((?:\s+\"[^\"]*\")?\))"
        )
        code_span = re.compile(r"(`+).+?\1")

        def fix(match):
            target = match.group(2).strip("<>")
            new = self.link(target, repo_path, language, staged)
            return match.group(1) + new + match.group(3)

        out, fence = [], None
        for line in text.splitlines(keepends=True):
            stripped = line.lstrip()
            if fence:
                if stripped.startswith(fence):
                    fence = None
                out.append(line)
                continue
            opener = re.match(r"(`{3,}|~{3,})", stripped)
            if opener:
                fence = opener.group(1)
                out.append(line)
                continue
            spans = [m.span() for m in code_span.finditer(line)]

            def fix_outside_code(match, spans=spans):
                if any(a <= match.start() < b for a, b in spans):
                    return match.group(0)
                return fix(match)

            out.append(link.sub(fix_outside_code, line))
        return "".join(out)

    def mirror(self):
        """Stage each page also in the languages that lack it, its links
        rewritten for there (mkdocs-static-i18n's fallback would reuse the
        links written for the other language's URLs)."""
        for _, staged, repo_path, kind, data in list(self.queue):
            if not staged.endswith((".md", ".ipynb")):
                continue  # a file, not a page: served once for all
            for other in LANGUAGES:
                if staged not in self.staged[other]:
                    self.add(other, staged, repo_path, kind, data, False)

    def write(self):
        """Write every queued page (the queue grows as links find files)."""
        while self.queue:
            language, staged, repo_path, kind, data = self.queue.pop(0)
            prefix = "" if language == LANGUAGES[0] else f"{language}/"
            dest = SRC / prefix / staged
            dest.parent.mkdir(parents=True, exist_ok=True)
            if kind == "copy":
                source = Path(data) if data else REPO / repo_path
                if source.is_dir():
                    shutil.copytree(source, dest, dirs_exist_ok=True)
                else:
                    shutil.copyfile(source, dest)
            elif kind == "text":
                dest.write_text(data, encoding="utf-8")
            elif kind == "md":
                text = (REPO / repo_path).read_text(encoding="utf-8")
                dest.write_text(
                    self.rewrite_markdown(text, repo_path, language, staged),
                    encoding="utf-8",
                )
            elif kind == "ipynb":
                notebook = json.loads(Path(data).read_text(encoding="utf-8"))
                for cell in notebook["cells"]:
                    if cell["cell_type"] == "markdown":
                        source = cell["source"]
                        if isinstance(source, list):
                            source = "".join(source)
                        cell["source"] = self.rewrite_markdown(
                            source, repo_path, language, staged
                        )
                dest.write_text(
                    json.dumps(notebook, ensure_ascii=False), encoding="utf-8"
                )


def public_objects():
    """Dotted paths of keras_attn's public classes, where they are defined."""
    defined = {}
    for init in ("keras_attn/__init__.py", "keras_attn/layers/__init__.py"):
        tree = ast.parse((REPO / init).read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    if alias.name[:1].isupper():
                        defined[alias.name] = f"{node.module}.{alias.name}"
    return [defined[name] for name in sorted(defined)]


def api_page(title, objects):
    blocks = [f"# {title}\n"]
    for name in objects:
        blocks.append(f"::: {name}\n")
    return "\n".join(blocks)


def tutorial_pages():
    """{staged name: {language: repo path}} of tutorials' markdown pages.

    tutorials/X.md, tutorials/en/X.md, tutorials/X_en.md, tutorials/X.en.md
    -> English; tutorials/ja/X.md, tutorials/X_ja.md, tutorials/X.ja.md ->
    Japanese; both are the page tutorials/X. README.md is the tutorials'
    index page, staged separately.
    """
    pages = {}
    folder = REPO / "tutorials"
    for path in sorted(folder.glob("*.md")) + sorted(folder.glob("*/*.md")):
        relative = path.relative_to(REPO).as_posix()
        if path.parent == folder and path.name == "README.md":
            continue
        language, name = "en", path.name
        if path.parent.name in LANGUAGES:
            language = path.parent.name
        for marker_language in LANGUAGES:
            for marker in (f".{marker_language}.md", f"_{marker_language}.md"):
                if name.endswith(marker):
                    language = marker_language
                    name = name[: -len(marker)] + ".md"
        if path.parent.name not in LANGUAGES and path.parent != folder:
            continue  # exercises/ etc.
        pages.setdefault(f"tutorials/{name}", {})[language] = relative
    return pages


def stage(executed):
    shutil.rmtree(SRC, ignore_errors=True)
    SRC.mkdir(parents=True)
    site = Site()
    nav = {"tutorials": [], "zoo": [], "more": []}

    site.add("en", "index.md", "README.md")
    for path in sorted((REPO / "docs" / "ja").glob("*.md")):
        site.add("ja", path.name, path.relative_to(REPO).as_posix())
    for language in LANGUAGES:
        site.add(language, "tutorials/index.md", "tutorials/README.md")

    stems = set()
    for language in LANGUAGES:
        for stem, path in tutorial_sources(language).items():
            staged = f"tutorials/{stem}.ipynb"
            repo_path = path.relative_to(REPO).as_posix()
            data = executed[language, stem]
            site.add(language, staged, repo_path, "ipynb", data)
            if path.suffix == ".py":  # links may name the notebook
                notebook = repo_path[: -len(".py")] + ".ipynb"
                site.where.setdefault(notebook, {})[language] = staged
            stems.add(stem)
    nav["tutorials"] += [f"tutorials/{stem}.ipynb" for stem in sorted(stems)]

    for staged, by_language in tutorial_pages().items():
        for language, repo_path in by_language.items():
            site.add(language, staged, repo_path)
        nav["tutorials"].append(staged)

    for path in sorted((REPO / "docs").glob("*.md")):
        site.add("en", path.name, path.relative_to(REPO).as_posix())
        group = "zoo" if path.name.startswith("zoo") else "more"
        if path.name != "benchmarks.md":
            nav[group].append(path.name)
    for path in sorted((REPO / "docs").iterdir()):
        if path.is_dir() and path.name not in LANGUAGES + ("__pycache__",):
            site.add("en", path.name, None, "copy", path)
            for file in path.rglob("*"):  # links to docs/img/x.png
                name = file.relative_to(REPO / "docs").as_posix()
                site.where[file.relative_to(REPO).as_posix()] = {"en": name}

    for language in LANGUAGES:
        site.add(language, "api/index.md", None, "text", API_INDEX[language])
    for page, (title, title_ja, objects) in API_PAGES.items():
        site.add(
            "en",
            f"api/{page}",
            None,
            "text",
            api_page(title, objects or public_objects()),
        )
        if title_ja:
            site.add(
                "ja",
                f"api/{page}",
                None,
                "text",
                api_page(title_ja, objects or public_objects()),
            )

    import mathjax  # django-static-mathjax: MathJax 3, served with the site

    es5 = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    for part in MATHJAX_PARTS:
        site.add("en", f"assets/mathjax/{part}", None, "copy", es5 / part)
    site.add("en", "assets/mathjax_config.js", None, "text", MATHJAX_CONFIG)

    site.mirror()
    site.write()
    return nav


# 3. mkdocs build ------------------------------------------------------


def navigation(nav):
    return [
        {"Home": "index.md"},
        {"Tutorials": ["tutorials/index.md", *nav["tutorials"]]},
        {"API reference": ["api/index.md"] + [f"api/{p}" for p in API_PAGES]},
        {"Model zoo": nav["zoo"]},
        {"Benchmarks": "benchmarks.md"},
        {"Contributing": nav["more"]},
    ]


def mkdocs_build(nav):
    from mkdocs.commands.build import build
    from mkdocs.config import load_config
    from mkdocs.exceptions import Abort

    handler = logging.StreamHandler()  # as `mkdocs build` shows them
    handler.setFormatter(logging.Formatter("mkdocs: %(levelname)s %(message)s"))
    handler.setLevel(logging.WARNING)
    logger = logging.getLogger("mkdocs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)  # strict mode counts the warnings
    # nbconvert warns once per notebook page that its plots have no alt
    # text (it writes a generic one): known, and not worth 50 lines a build.
    logging.getLogger("traitlets").setLevel(logging.ERROR)
    config = load_config(str(REPO / "mkdocs.yml"), nav=navigation(nav))
    config.plugins.on_startup(command="build", dirty=False)
    try:
        build(config)
    except Abort as error:  # a SystemExit that would pass in silence
        raise SystemExit(f"build_site: mkdocs: {error}") from None
    finally:
        config.plugins.on_shutdown()
        logger.removeHandler(handler)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--full",
        action="store_true",
        help="execute the tutorials in full mode (for a published build)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=int(os.environ.get("KERAS_ATTN_SITE_JOBS", "2")),
        help="notebooks executed at once (default 2, or $KERAS_ATTN_SITE_JOBS)",
    )
    parser.add_argument(
        "--reuse-cache",
        action="store_true",
        help="reuse executed notebooks even if the code they run changed "
        "(for editing the pages; a notebook never executed still runs)",
    )
    parser.add_argument(
        "--timeout",
        type=int,
        default=None,
        help="seconds per cell (default 600 in small mode, 7200 in full)",
    )
    args = parser.parse_args(argv)
    os.chdir(REPO)  # mkdocs.yml's paths are relative to the repository
    mode = "full" if args.full else "small"
    timeout = args.timeout or (7200 if args.full else 600)
    start = time.monotonic()
    executed = execute_all(mode, args.jobs, args.reuse_cache, timeout)
    nav = stage(executed)
    log(f"staged {SRC.relative_to(REPO)}; running mkdocs build")
    mkdocs_build(nav)
    log(
        f"site in {SITE.relative_to(REPO)}/ ({mode} mode) in "
        f"{time.monotonic() - start:.0f} s; view it with "
        f"`python -m http.server -d {SITE.relative_to(REPO)}`"
    )


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
