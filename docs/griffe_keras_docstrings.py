"""A griffe extension: read keras_attn's Keras-format docstrings for the site.

The docstrings follow the Keras format (STYLE.md), which differs from the
Google style griffe parses in two places; the API pages (mkdocstrings, see
mkdocs.yml) would show them garbled:

* `Example:` is followed by doctest lines at the section's own indentation;
  griffe wants `Examples:` with them indented under it, else `>>>` becomes
  a nested quote. The title is renamed and the lines are indented.
* `Call arguments:` lists `name: description` like `Args:`, but griffe
  knows no such section and would run the entries together into one
  paragraph; they become a Markdown list.

The docstrings in the source are left as they are.
"""

import re

import griffe

SECTION = re.compile(r"^[A-Z][A-Za-z ]*:\s*$")
ENTRY = re.compile(r"^(\s+)([\w*][\w*, ]*):\s*(.*)$")


def keras_to_google(text):
    lines = text.splitlines()
    out, index = [], 0
    while index < len(lines):
        line = lines[index]
        title = line.strip()
        # griffe's Examples section (doctests as code), not an admonition
        out.append("Examples:" if title == "Example:" else line)
        index += 1
        if not SECTION.match(line):
            continue
        body = []
        while index < len(lines) and not SECTION.match(lines[index]):
            body.append(lines[index])
            index += 1
        if title in ("Example:", "Examples:"):
            out += [
                f"    {b}" if b and not b.startswith(" ") else b for b in body
            ]
        elif title == "Call arguments:":
            out += _entries_as_list(body)
        else:
            out += body
    return "\n".join(out)


def _entries_as_list(body):
    out = []
    for line in body:
        entry = ENTRY.match(line)
        if entry and len(entry.group(1)) <= 4:
            names = ", ".join(
                f"`{name.strip()}`" for name in entry.group(2).split(",")
            )
            out.append(f"    - {names}: {entry.group(3)}")
        elif line.strip() and out:
            out[-1] += " " + line.strip()
        else:
            out.append(line)
    return out


class KerasDocstrings(griffe.Extension):
    def on_instance(self, *, node, obj, agent, **kwargs):
        if obj.docstring is not None:
            obj.docstring.value = keras_to_google(obj.docstring.value)
