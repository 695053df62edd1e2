"""Every code block of the FAQ and of the PyTorch-to-Keras page runs.

`tutorials/FAQ_en.md` answers learners' questions, each with a small
self-contained check, and `tutorials/pytorch_to_keras_en.md` checks its
translations against PyTorch itself. This test executes each ```python
block of those pages as written (so a page cannot drift from what is
tested), and checks that the Japanese pages carry exactly the same blocks.
The PyTorch blocks need torch (CI installs it for the PyTorch backend
before the slow checks), so they are `slow`.
"""

import re

import pytest

from tests.tutorials._notebooks import TUTORIALS

_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)
_SECTION = re.compile(r"^## (.+)$", re.MULTILINE)


def _sections(name):
    """{section heading: [code blocks]} of one page, in page order."""
    text = (TUTORIALS / name).read_text(encoding="utf-8")
    starts = [(m.start(), m.group(1)) for m in _SECTION.finditer(text)]
    sections = {}
    for i, (start, heading) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else len(text)
        sections[heading] = _BLOCK.findall(text, start, end)
    return sections


def _blocks(name):
    return [b for blocks in _sections(name).values() for b in blocks]


FAQ = _sections("FAQ_en.md")
QUESTIONS = {int(h.split(".")[0]): b for h, b in FAQ.items()}
PYTORCH = _blocks("pytorch_to_keras_en.md")


def test_every_question_has_a_check_that_can_fail():
    assert sorted(QUESTIONS) == list(range(1, len(QUESTIONS) + 1))
    assert len(QUESTIONS) >= 12
    for number, blocks in QUESTIONS.items():
        assert blocks, f"question {number} has no code block"
        assert all("assert" in b for b in blocks), f"question {number}"


@pytest.mark.parametrize(
    "en, ja",
    [
        ("FAQ_en.md", "FAQ_ja.md"),
        ("pytorch_to_keras_en.md", "pytorch_to_keras_ja.md"),
    ],
)
def test_japanese_page_has_the_same_code(en, ja):
    assert _blocks(ja) == _blocks(en)
    assert len(_sections(ja)) == len(_sections(en))


@pytest.mark.parametrize("number", sorted(QUESTIONS), ids=lambda n: f"q{n}")
def test_faq_check_runs(number):
    for code in QUESTIONS[number]:
        exec(compile(code, f"FAQ_en.md question {number}", "exec"), {})


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(PYTORCH)), ids=lambda i: f"b{i}")
def test_pytorch_to_keras_check_runs(index):
    pytest.importorskip("torch")
    code = PYTORCH[index]
    assert "assert" in code
    exec(compile(code, f"pytorch_to_keras_en.md block {index}", "exec"), {})
