"""The machinery of the exercise checks: language, verdicts, diagnoses.

* **Language.** Messages are English in `tutorials/en/` and Japanese in
  `tutorials/ja/`, with identical code cells: `language()` reads
  `KERAS_ATTN_TUTORIAL_LANG` if set, else the folder of the running script
  (`python ja/03_....py`), else the folder of the notebook (Jupyter's
  `JPY_SESSION_NAME`, VS Code's `__vsc_ipynb_file__`), else the working
  directory, which Jupyter and nbclient set to the notebook's folder.
* **Verdicts.** A check prints `✓ ...` or raises `ExerciseError`, whose
  message is the hint; IPython shows it without a traceback, so a failed
  check stops the notebook with the hint as its only output. A check never
  hands back a solution.
* **Diagnoses.** Anything the learner's function raises becomes a hint
  that quotes the offending line (a blank `___` still to fill, an
  undefined name, or the error and the sizes the check used); an answer
  that reads the notebook's size variables is named as such.
"""

import dis
import functools
import linecache
import os
import re
import sys
from pathlib import Path

import numpy as np
from keras import ops

from .messages import MESSAGES

LANGUAGES = ("en", "ja")


def _language_of(path):
    if not path:
        return None
    path = Path(str(path))
    for folder in (path, path.parent) if path.suffix else (path,):
        if folder.name in LANGUAGES:
            return folder.name
    return None


def language():
    """The edition of the notebook that is running: "en" or "ja"."""
    chosen = os.environ.get("KERAS_ATTN_TUTORIAL_LANG", "")
    if chosen in LANGUAGES:
        return chosen
    main = sys.modules.get("__main__")
    candidates = (
        getattr(main, "__file__", None),
        getattr(main, "__vsc_ipynb_file__", None),
        os.environ.get("JPY_SESSION_NAME"),
        os.getcwd(),
    )
    for candidate in candidates:
        found = _language_of(candidate)
        if found:
            return found
    return "en"


def plain(value):
    """Numbers, shapes and indices as Python ints/floats for messages
    (NumPy 2 would print `np.int64(0)`)."""
    if isinstance(value, (tuple, list)):
        return tuple(plain(v) for v in value)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(f"{float(value):.3g}")
    return value


def say(code, lang=None, **fields):
    """The message `code` in `lang` (default: the reader's language)."""
    lang = lang or language()
    english, japanese = MESSAGES[code]
    template = japanese if lang == "ja" else english
    values = {
        k: v.render(lang) if isinstance(v, Text) else plain(v)
        for k, v in fields.items()
    }
    return template.format(**values)


class Text:
    """A message and its fields, rendered in whichever language is asked;
    a field may itself be a `Text`."""

    def __init__(self, code, **fields):
        self.code, self.fields = code, fields

    def render(self, lang=None):
        return say(self.code, lang, **self.fields)


class ExerciseError(Exception):
    """A failed check. The message is the hint; `code` names the mistake.

    IPython shows only the message (no traceback), so the notebook stops
    at the check with the hint as its last line.
    """

    def __init__(self, code, text):
        super().__init__(text.render())
        self.code, self.text = code, text

    def in_language(self, lang):
        """The same hint in "en" or "ja"."""
        return self.text.render(lang)

    def _render_traceback_(self):
        return str(self).splitlines()


class Mistake(Exception):
    """Raised inside a check; `exercise` turns it into `ExerciseError`."""

    def __init__(self, code, template=None, **fields):
        super().__init__(code)
        self.code, self.fields = code, fields
        self.template = template or code


def _globals_used(fn):
    """The notebook's integer globals (sizes) that `fn` reads (as names,
    not attributes: `key.T` is not the global `T`)."""
    names, stack = set(), [getattr(fn, "__code__", None)]
    while stack:
        code = stack.pop()
        if code is None:
            continue
        names.update(
            op.argval
            for op in dis.get_instructions(code)
            if op.opname in ("LOAD_GLOBAL", "LOAD_NAME")
        )
        stack.extend(c for c in code.co_consts if hasattr(c, "co_names"))
    values = getattr(fn, "__globals__", {})
    return sorted(
        name
        for name in names
        if isinstance(values.get(name), (int, np.integer))
        and not isinstance(values.get(name), bool)
    )


def exercise(name):
    """Decorate `check(answer)`: print ✓, or raise the hint."""

    def decorate(check):
        @functools.wraps(check)
        def run(answer):
            try:
                cases = check(answer)
            except Mistake as mistake:
                code = mistake.code
                hint = Text(mistake.template, **mistake.fields)
                names = _globals_used(answer)
                if names and code not in ("blank", "undefined_name"):
                    code, hint = (
                        "hard_coded",
                        Text(
                            "hard_coded",
                            names=", ".join(f"`{n}`" for n in names),
                            sizes=mistake.fields.get("sizes", "?"),
                            detail=hint,
                        ),
                    )
                raise ExerciseError(
                    code, Text("failed", name=name, hint=hint)
                ) from None
            print(say("correct", name=name, cases=cases))

        return run

    return decorate


def sizes(**named):
    return ", ".join(f"{k}={plain(v)}" for k, v in named.items())


def call(fn, *args, where=""):
    """`fn(*args)`; any exception becomes a `Mistake` quoting its line."""
    try:
        return fn(*args)
    except Exception as error:  # noqa: BLE001 - every error becomes a hint
        raise _explain(fn, error, where) from None


def _explain(fn, error, where):
    filename = getattr(getattr(fn, "__code__", None), "co_filename", None)
    line, traceback = "?", error.__traceback__
    while traceback is not None:  # the innermost line of the learner's cell
        frame_code = traceback.tb_frame.f_code
        if frame_code.co_filename == filename:
            text = linecache.getline(filename, traceback.tb_lineno).strip()
            line = text or line
        traceback = traceback.tb_next
    if "___" in line or getattr(error, "name", None) == "___":
        return Mistake("blank", line=line, sizes=where)
    if isinstance(error, NameError) and getattr(error, "name", None):
        return Mistake("undefined_name", name=error.name, line=line)
    detail = " ".join(str(error).split())
    detail = re.sub(r"\{\{.*?\}\}\s*|\s*\[Op:\w+\].*$", "", detail)  # TF's
    if len(detail) > 240:
        detail = detail[:240] + " ..."
    return Mistake(
        "raised",
        kind=type(error).__name__,
        line=line,
        detail=detail,
        sizes=where,
    )


def array(value, what):
    """The learner's result as a NumPy array, or a `not_array` mistake."""
    if isinstance(value, (tuple, list, dict, str)) or value is None:
        raise Mistake("not_array", what=what, kind=type(value).__name__)
    try:
        return np.asarray(ops.convert_to_numpy(value))
    except Exception:  # noqa: BLE001
        raise Mistake(
            "not_array", what=what, kind=type(value).__name__
        ) from None


def pair(result, name, first, second):
    """Unpack `(first, second)` or raise a `not_pair` mistake."""
    if not (isinstance(result, (tuple, list)) and len(result) == 2):
        raise Mistake(
            "not_pair",
            name=name,
            first=first,
            second=second,
            kind=type(result).__name__,
        )
    return result


def close(a, b, rtol=1e-4, atol=1e-5):
    return a.shape == b.shape and np.allclose(a, b, rtol=rtol, atol=atol)


def expect_shape(got, expected, what, legend, where, hints=None):
    if tuple(got.shape) != tuple(expected):
        code = (hints or {}).get(tuple(got.shape))
        raise Mistake(
            code or "shape",  # the mistake the shape gives away, if known
            template="shape",
            what=what,
            got=tuple(got.shape),
            expected=tuple(expected),
            legend=legend,
            sizes=where,
            hint=Text(code) if code else "",
        )


def diagnose(got, expected, variants, what, where):
    """Pass if `got` matches `expected`; else name the variant it matches.

    `variants` is a list of `(wrong_value, code, fields)`: what each
    mistake computes on the same inputs, and the message that names it.
    """
    if close(got, expected):
        return
    if np.isnan(got).any():
        raise Mistake("nan", what=what, sizes=where)
    for wrong, code, fields in variants:
        if close(got, np.asarray(wrong)):
            raise Mistake(code, sizes=where, **fields)
    difference = np.abs(got.astype("float64") - expected)
    worst = np.unravel_index(np.argmax(difference), got.shape)
    raise Mistake(
        "values",
        what=what,
        diff=difference[worst],
        index=tuple(worst),
        sizes=where,
    )
