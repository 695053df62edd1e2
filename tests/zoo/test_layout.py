"""The zoo layout of zoo/README.md, enforced.

`layout_problems(zoo_dir)` reads the tree and the sources (nothing is
imported, so this runs in a second) and lists every file in the wrong
place and every forbidden import. The test on the real tree expects none;
a second test plants misplaced files in a copy and expects each named.
"""

import ast
import pathlib
import shutil

import pytest

ZOO = pathlib.Path(__file__).resolve().parents[2] / "zoo"

# Shared runtime at the top of zoo/ (see zoo/README.md).
TOP_LEVEL_MODULES = {
    "__init__.py",
    "__main__.py",
    "cli.py",
    "registry.py",
    "config_utils.py",
    "harness.py",
    "metrics.py",
    "startup.py",
    "README.md",
}
# Shared packages that are not models.
SHARED_PACKAGES = {"data", "bert", "experiments"}
SKELETON = {"__init__.py", "config.py", "model.py", "train.py"}
# Registry names of the models that generate text (they have decode.py).
TEXT_GENERATORS = {"rnn-translator", "transformer", "gpt"}

# Files outside the skeleton, each with its reason. Every entry must still
# be needed: a test fails on an allowance whose file is gone, so remove the
# line when the file goes.
ALLOWED_EXTRA = {
    # SAGAN's image counterpart of decode.py (`python -m zoo sample`).
    # Not named sample.py: `zoo.sagan` exports a function `sample`, and a
    # submodule of the same name would shadow it (`import zoo.sagan.sample
    # as m` would give the function).
    ("sagan", "sampling.py"),
    # The string-to-string SavedModel for serving (tokenizer and beam
    # search in the graph; loads with TensorFlow alone): model-specific,
    # and as large as a decode.py, so it keeps its own file.
    ("transformer_translator", "export.py"),
    # The GPT's string-to-string SavedModel (sentencepiece tokenizer and
    # the cached sampling loop in the graph; loads with TensorFlow and
    # tensorflow-text alone): the same role as the translator's export.py,
    # model-specific, and too large for decode.py.
    ("gpt", "export.py"),
}
ALLOWED_TOP_LEVEL_EXTRA = set()  # none: keep it that way


def _registry_packages(zoo_dir):
    """`{registry name: package dir name}` from zoo/registry.py's MODELS."""
    tree = ast.parse((zoo_dir / "registry.py").read_text())
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and getattr(node.targets[0], "id", None) == "MODELS"
        ):
            models = ast.literal_eval(node.value)
            return {name: m.split(".")[1] for name, m in models.items()}
    raise AssertionError("zoo/registry.py defines no MODELS")


def _entries(directory):
    return {
        p.name
        for p in directory.iterdir()
        if p.name != "__pycache__" and not p.name.startswith(".")
    }


def _is_package(path):
    return path.is_dir() and (path / "__init__.py").is_file()


def _placement_problems(zoo_dir):
    problems = []
    packages = _registry_packages(zoo_dir)
    models = set(packages.values())
    translation = {"translation.py", "translation"}
    allowed = (
        TOP_LEVEL_MODULES
        | ALLOWED_TOP_LEVEL_EXTRA
        | SHARED_PACKAGES
        | models
        | translation
    )
    for name in sorted(_entries(zoo_dir) - allowed):
        problems.append(
            f"zoo/{name}: not part of the layout (a dataset goes in "
            "zoo/data/, a model in zoo/<model>/ and zoo/registry.py)"
        )
    if (zoo_dir / "translation").is_dir():
        for path in sorted((zoo_dir / "translation").iterdir()):
            if path.is_dir() and path.name != "__pycache__":
                problems.append(
                    f"zoo/translation/{path.name}: the translation package "
                    "holds small modules, no subpackages"
                )
    for shared in sorted(SHARED_PACKAGES):
        directory = zoo_dir / shared
        if not _is_package(directory):
            problems.append(f"zoo/{shared}/: missing (or no __init__.py)")
            continue
        for name in sorted(_entries(directory)):
            path = directory / name
            if path.is_dir() or not (
                name.endswith(".py") or name == "README.md"
            ):
                problems.append(
                    f"zoo/{shared}/{name}: zoo/{shared}/ holds only modules "
                    "(and README.md)"
                )
    for name in ("train.py", "decode.py"):
        if (zoo_dir / "bert" / name).exists():
            problems.append(
                f"zoo/bert/{name}: zoo/bert/ is shared BERT code, not a "
                "model; training code goes in zoo/bert_mlm/ or "
                "zoo/bert_classifier/"
            )
    for registry_name, package in sorted(packages.items()):
        problems += _model_problems(zoo_dir, registry_name, package)
    return problems


def _model_problems(zoo_dir, registry_name, package):
    directory = zoo_dir / package
    if not _is_package(directory):
        return [f"zoo/{package}/: registered as {registry_name!r}, missing"]
    entries = _entries(directory)
    has_model_package = _is_package(directory / "model")
    required = set(SKELETON)
    if has_model_package:
        required = required - {"model.py"} | {"model"}
    allowed = required | {
        name for model, name in ALLOWED_EXTRA if model == package
    }
    if registry_name in TEXT_GENERATORS:
        allowed.add("decode.py")
        required.add("decode.py")
    problems = [
        f"zoo/{package}/{name}: missing from the model skeleton "
        "(__init__, config, model, train; decode if it generates text)"
        for name in sorted(required - entries)
    ]
    for name in sorted(entries - allowed):
        problems.append(
            f"zoo/{package}/{name}: not in the model skeleton (config.py, "
            "model.py or model/, train.py, decode.py for text); data goes "
            "in zoo/data/, shared code in a shared package"
        )
    if has_model_package and "model.py" in entries:
        problems.append(f"zoo/{package}/: both model.py and model/")
    if has_model_package:
        for path in sorted((directory / "model").iterdir()):
            if path.is_dir() and path.name != "__pycache__":
                problems.append(
                    f"zoo/{package}/model/{path.name}: no nested packages"
                )
    return problems


def _stale_allowances(zoo_dir):
    stale = [
        f"zoo/{model}/{name}"
        for model, name in sorted(ALLOWED_EXTRA)
        if not (zoo_dir / model / name).exists()
    ]
    stale += [
        f"zoo/{name}"
        for name in sorted(ALLOWED_TOP_LEVEL_EXTRA)
        if not (zoo_dir / name).exists()
    ]
    return stale


def _imports(tree):
    """`(module, names)` of every import in a module's AST."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module or "", [a.name for a in node.names]


def _dotted(node):
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


DATA_SOURCES = (  # fetching data is zoo/data/'s job alone
    "keras.datasets",
    "keras.utils.get_file",
    "tensorflow_datasets",
    "urllib.request",
)


def _import_problems(zoo_dir):
    problems = []
    packages = _registry_packages(zoo_dir)
    models = set(packages.values())
    for path in sorted(zoo_dir.rglob("*.py")):
        relative = path.relative_to(zoo_dir.parent)
        parts = path.relative_to(zoo_dir).parts
        owner = parts[0] if len(parts) > 1 else None
        tree = ast.parse(path.read_text(), str(relative))
        names = [module for module, _ in _imports(tree)]
        names += [_dotted(n) for n in ast.walk(tree)]
        for module, imported in _imports(tree):
            if module == "keras.src" or module.startswith("keras.src."):
                problems.append(f"{relative}: imports {module} (private)")
            if module == "zoo.cli" or (module == "zoo" and "cli" in imported):
                if relative.name not in ("__main__.py", "cli.py"):
                    problems.append(f"{relative}: imports the CLI (zoo.cli)")
            target = module.split(".")
            if len(target) > 1 and target[0] == "zoo":
                other = target[1]
                if other in models and other != owner:
                    private = [n for n in imported if n.startswith("_")]
                    private += [p for p in target[2:] if p.startswith("_")]
                    if private:
                        problems.append(
                            f"{relative}: imports {module}'s private "
                            f"{', '.join(private)}"
                        )
        if owner == "data":
            continue
        for name in names:
            if any(
                name == source or name.startswith(f"{source}.")
                for source in DATA_SOURCES
            ):
                problems.append(
                    f"{relative}: uses {name}; fetching data belongs in a "
                    "zoo/data/ module"
                )
                break
    return problems


def _readme_problems(zoo_dir):
    problems = []
    readme = zoo_dir / "README.md"
    if not readme.is_file():
        return ["zoo/README.md: missing (it states the layout)"]
    text = readme.read_text()
    for package in sorted(set(_registry_packages(zoo_dir).values())):
        if f"zoo/{package}/" not in text:
            problems.append(f"zoo/README.md: does not name zoo/{package}/")
    data_readme = (zoo_dir / "data" / "README.md").read_text()
    for path in sorted((zoo_dir / "data").glob("*.py")):
        if path.name != "__init__.py" and f"`{path.name}`" not in data_readme:
            problems.append(
                f"zoo/data/README.md: no row for `{path.name}` in the table"
            )
    return problems


def layout_problems(zoo_dir):
    """Every layout rule broken under `zoo_dir`, as readable lines."""
    return (
        _placement_problems(zoo_dir)
        + _import_problems(zoo_dir)
        + _readme_problems(zoo_dir)
    )


def test_zoo_follows_its_layout():
    problems = layout_problems(ZOO)
    assert not problems, "zoo/README.md layout broken:\n" + "\n".join(problems)


def test_every_allowance_is_still_needed():
    stale = _stale_allowances(ZOO)
    assert not stale, (
        "these files are gone; delete their allowance in "
        f"tests/zoo/test_layout.py: {stale}"
    )


@pytest.fixture
def zoo_copy(tmp_path):
    copy = tmp_path / "zoo"
    shutil.copytree(ZOO, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def test_misplaced_files_and_bad_imports_are_caught(zoo_copy):
    assert layout_problems(zoo_copy) == []
    (zoo_copy / "fashion_mnist.py").write_text("")  # a dataset at the top
    (zoo_copy / "se_resnet" / "data.py").write_text("")  # a model's data
    (zoo_copy / "sagan" / "model.py").write_text("")  # beside model/
    (zoo_copy / "bert_mlm" / "model.py").unlink()  # skeleton incomplete
    (zoo_copy / "data" / "mnist").mkdir()  # a subpackage in zoo/data/
    (zoo_copy / "data" / "mnist.py").write_text("")  # no README row
    (zoo_copy / "bert_classifier" / "ablation.py").write_text(
        "from zoo.cli import main\n"
        "from zoo.bert_mlm.train import _texts\n"
        "from keras.src import ops\n"
        "import keras\n"
        "data = keras.datasets.mnist.load_data()\n"
    )
    problems = "\n".join(layout_problems(zoo_copy))
    for expected in (
        "zoo/fashion_mnist.py: not part of the layout",
        "zoo/se_resnet/data.py: not in the model skeleton",
        "zoo/sagan/: both model.py and model/",
        "zoo/bert_mlm/model.py: missing from the model skeleton",
        "zoo/data/mnist: zoo/data/ holds only modules",
        "no row for `mnist.py`",
        "zoo/bert_classifier/ablation.py: not in the model skeleton",
        "ablation.py: imports the CLI",
        "ablation.py: imports zoo.bert_mlm.train's private _texts",
        "ablation.py: imports keras.src (private)",
        "ablation.py: uses keras.datasets",
    ):
        assert expected in problems, f"not caught: {expected}\n{problems}"


def test_model_package_rules_in_a_copy(zoo_copy):
    (zoo_copy / "transformer_translator" / "decode.py").unlink()
    (zoo_copy / "sagan" / "model" / "nested").mkdir()
    (zoo_copy / "bert" / "train.py").write_text("")
    problems = "\n".join(layout_problems(zoo_copy))
    assert "zoo/transformer_translator/decode.py: missing" in problems
    assert "zoo/sagan/model/nested: no nested packages" in problems
    assert "zoo/bert/train.py: zoo/bert/ is shared BERT code" in problems
    (zoo_copy / "sagan" / "sampling.py").unlink()
    assert _stale_allowances(zoo_copy) == ["zoo/sagan/sampling.py"]
