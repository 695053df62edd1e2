"""MkDocs hooks for the documentation site (mkdocs.yml `hooks:`).

* nbconvert's notebook template loads MathJax 2 from a CDN: a site read
  offline (and the browser test) would log a failed request on every
  tutorial page. The site ships MathJax 3 itself (mkdocs.yml
  `extra_javascript`, copied by docs/build_site.py), so the CDN block goes.
* Material's script fetches `sitemap.xml` next to every
  `<link rel="alternate" hreflang>` of a page's head, expecting language
  roots there; mkdocs-static-i18n points them at the page's translations,
  so each page made two requests that fail (404). The language switcher
  in the header links to the translation itself, so those head links go.
* mkdocs-static-i18n rebuilds the file list (its `on_files` runs last)
  with plain `File`s, and a plain `File` is a page only when it is
  Markdown: each tutorial would be served as raw JSON, without the other
  language in its switcher. So a notebook counts as a page for MkDocs
  itself (mkdocs-jupyter renders it in `on_pre_page`, as before).
* On a notebook page the table of contents (mkdocs-jupyter, Python-Markdown
  slugs) and the headings (nbconvert's ids) disagree: a Japanese heading
  gets the id "" from nbconvert and "_1" in the contents, so those links
  led nowhere. The headings take the contents' ids, in order.
"""

import re

import mkdocs.utils

if ".ipynb" not in mkdocs.utils.markdown_extensions:
    mkdocs.utils.markdown_extensions = (
        *mkdocs.utils.markdown_extensions,
        ".ipynb",
    )

_CDN_MATHJAX = re.compile(
    r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->",
    re.DOTALL,
)
_ALTERNATE = re.compile(
    r'\s*<link rel="alternate" href="[^"]*" hreflang="[^"]*">'
)


_HEADING = re.compile(
    r'(<h[1-6] id=")([^"]*)(">(?:(?!</h[1-6]>).)*?'
    r'<a class="anchor-link" href="#)([^"]*)(")',
    re.DOTALL,
)


def _flat(toc):
    for item in toc:
        yield item.id
        yield from _flat(item.children)


def on_page_content(html, page, config, files):
    if not page.file.src_uri.endswith(".ipynb"):
        return html
    ids = list(_flat(page.toc))
    headings = _HEADING.findall(html)
    if len(headings) != len(ids):  # left alone: the browser test tells
        return html
    new = iter(ids)

    def retarget(match):
        anchor = next(new)
        return (
            match.group(1) + anchor + match.group(3) + anchor + match.group(5)
        )

    return _HEADING.sub(retarget, html)


def on_post_page(output, page, config):
    output = _CDN_MATHJAX.sub("", output)
    head, sep, body = output.partition("</head>")
    return _ALTERNATE.sub("", head) + sep + body
