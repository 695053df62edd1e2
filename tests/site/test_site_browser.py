"""The documentation site, read in a real browser (docs/site.md).

Builds the site in small mode (`python docs/build_site.py`; the executed
notebooks are cached, so a rebuild takes about a minute) unless
`KERAS_ATTN_SITE_DIR` names a built one, serves it with `http.server` on a
free port, and drives Debian's chromium, headless, through selenium
(`.ci/install_chromium.sh` installs it without root). It crawls every page
reachable from the home page and checks:

* no page logs a console error (SEVERE: a script error, a failed request);
* every internal `href`/`src` answers 200, and every `#anchor` exists on
  its page;
* every tutorial of both editions is a page, every code cell on it ran
  (`In [n]:`, never `In [ ]:`), and each tutorial whose source shows a
  figure has a decoded plot (`naturalWidth > 0`);
* the math of the notebooks' markdown is typeset (MathJax, served with the
  site), no `$...$` is left as TeX source;
* Japanese text is drawn with a CJK font: each character renders unlike
  the missing-glyph box (tofu) and unlike the others;
* the API pages document every public layer and op, and the language
  switcher leads from a tutorial to the same tutorial in the other language;

and saves screenshots of a tutorial page (en, ja) and of an API page to
artifacts/site/ (`KERAS_ATTN_ARTIFACTS` elsewhere).

Without chromium the test is skipped, unless `KERAS_ATTN_REQUIRE_BROWSER=1`
(CI), where that is a failure.
"""

import ast
import functools
import http.server
import os
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.site]

REPO = Path(__file__).resolve().parents[2]
TUTORIAL = re.compile(r"[0-9][0-9]_.+")
CJK = "[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]"
TOFU = "\U0010fffd"  # a private-use code point no font draws


def _require(message):
    if os.environ.get("KERAS_ATTN_REQUIRE_BROWSER") == "1":
        pytest.fail(message)
    pytest.skip(message)


def _browser_env():
    """The environment .ci/install_chromium.sh wrote to env.sh."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    directory = Path(
        os.environ.get(
            "KERAS_ATTN_CHROMIUM_DIR", cache / "keras_attn" / "chromium"
        )
    )
    env_sh = directory / "env.sh"
    if not env_sh.is_file():
        _require(f"no {env_sh}: run .ci/install_chromium.sh")
    out = subprocess.run(
        ["bash", "-c", f'. "{env_sh}" && env -0'],
        capture_output=True,
        check=True,
    ).stdout.decode()
    env = dict(item.split("=", 1) for item in out.split("\0") if "=" in item)
    for name in ("KERAS_ATTN_CHROMIUM", "KERAS_ATTN_CHROMEDRIVER"):
        if not Path(env.get(name, "")).is_file():
            _require(f"{name} from {env_sh} is not a file")
    return env


@pytest.fixture(scope="module")
def site_dir():
    prebuilt = os.environ.get("KERAS_ATTN_SITE_DIR")
    if prebuilt:
        return Path(prebuilt).resolve()
    subprocess.run([sys.executable, "docs/build_site.py"], cwd=REPO, check=True)
    return REPO / "build" / "site"


@pytest.fixture(scope="module")
def server(site_dir):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(site_dir))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    selenium = pytest.importorskip("selenium")
    del selenium
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    env = _browser_env()
    options = webdriver.ChromeOptions()
    options.binary_location = env["KERAS_ATTN_CHROMIUM"]
    for argument in (
        "--headless=new",
        "--no-sandbox",  # no user namespaces in containers
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1600",
        "--lang=en-US",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(env["KERAS_ATTN_CHROMEDRIVER"], env=env)
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(120)
    driver.set_script_timeout(60)
    yield driver
    driver.quit()


def _status(url):
    request = urllib.request.Request(url, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


# In the page: every link, resource and id, once MathJax has typeset.
PAGE_FACTS = r"""
const done = arguments[arguments.length - 1];
const loaded = document.readyState === "complete" ? Promise.resolve()
  : new Promise(resolve => addEventListener("load", resolve));
const ready = loaded.then(() =>
  window.MathJax && MathJax.startup && MathJax.startup.promise);
ready.then(() => done({
  links: [...document.querySelectorAll("a[href]")].map(a => a.href),
  resources: [
    ...[...document.querySelectorAll("img[src], script[src]")].map(e => e.src),
    ...[...document.querySelectorAll("link[href]")]
      .filter(l => l.rel !== "canonical" && l.rel !== "alternate")
      .map(l => l.href),
  ],
  ids: [...document.querySelectorAll("[id]")].map(e => e.id),
  names: [...document.querySelectorAll("a[name]")].map(e => e.name),
  rawMath: [...document.querySelectorAll(".jp-MarkdownOutput, .arithmatex")]
    .map(e => e.innerText.match(/\$\$|\$[^$\s][^$\n]*\$|\\\(|\\\[/))
    .filter(m => m).map(m => m[0].slice(0, 60)),
}), error => done({error: String(error)}));
"""

# Render up to 8 CJK characters shown on the page (navigation included), each
# in its element's font, and the missing-glyph box, on a canvas: a character
# without a font draws the box.
CJK_GLYPHS = """
const pattern = new RegExp(arguments[0], "u"), tofu = arguments[1];
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
const seen = new Map();
while (walker.nextNode() && seen.size < 8) {
  const node = walker.currentNode;
  const element = node.parentElement;
  if (!element || element.closest("script, style, noscript")) continue;
  if (!element.getClientRects().length) continue;  // not displayed
  for (const ch of node.textContent) {
    if (pattern.test(ch) && !seen.has(ch)) seen.set(ch, node.parentElement);
  }
}
function draw(ch, element) {
  const style = getComputedStyle(element);
  const canvas = document.createElement("canvas");
  canvas.width = 48; canvas.height = 48;
  const g = canvas.getContext("2d");
  g.font = `${style.fontWeight} 32px ${style.fontFamily}`;
  g.textBaseline = "top";
  g.fillText(ch, 4, 4);
  return canvas.toDataURL();
}
const out = [];
for (const [ch, element] of seen) {
  out.push({ch, image: draw(ch, element), tofu: draw(tofu, element),
            font: getComputedStyle(element).fontFamily});
}
return out;
"""

CODE_CELLS = """
const cells = [...document.querySelectorAll(".jp-CodeCell")];
return {
  cells: cells.length,
  prompts: cells.map(c => {
    const p = c.querySelector(".jp-InputPrompt");
    return p ? p.textContent.trim() : "";
  }),
  outputs: document.querySelectorAll(".jp-OutputArea-output").length,
  plots: [...document.querySelectorAll(".jp-OutputArea-output img")]
    .map(img => [img.complete, img.naturalWidth]),
};
"""


@pytest.fixture(scope="module")
def crawl(server, browser):
    """Visit every page reachable from the home page; what each showed."""
    pages, queue, seen = {}, [server], {server}
    checked, failures = {}, []
    while queue:
        url = queue.pop(0)
        browser.get(url)
        facts = browser.execute_async_script(PAGE_FACTS)
        if "error" in facts:
            failures.append(f"{url}: MathJax failed: {facts['error']}")
            facts = browser.execute_async_script(
                PAGE_FACTS.replace("MathJax.startup.promise", "0")
            )
        facts["log"] = [
            entry["message"]
            for entry in browser.get_log("browser")
            if entry["level"] == "SEVERE"
        ]
        facts["cjk"] = browser.execute_script(CJK_GLYPHS, CJK, TOFU)
        facts["notebook"] = browser.execute_script(CODE_CELLS)
        pages[url] = facts
        for link in facts["links"] + facts["resources"]:
            target = urllib.parse.urldefrag(link).url
            if not target.startswith(server):
                continue
            if target not in checked:
                checked[target] = _status(target)
            is_page = target.endswith((".html", "/"))
            if checked[target] == 200 and is_page and target not in seen:
                seen.add(target)
                queue.append(target)
    return {"pages": pages, "status": checked, "failures": failures}


def _relative(server, url):
    return "/" + url[len(server) :]


def test_every_page_loads_without_console_errors(server, crawl):
    pages = crawl["pages"]
    assert len(pages) > 20, sorted(pages)
    errors = [
        f"{_relative(server, url)}: {message}"
        for url, facts in pages.items()
        for message in facts["log"]
    ] + crawl["failures"]
    assert not errors, "console errors:\n" + "\n".join(errors)


def test_internal_links_resolve(server, crawl):
    pages = crawl["pages"]
    broken = [
        f"{_relative(server, url)} -> {status}"
        for url, status in crawl["status"].items()
        if status != 200
    ]
    assert not broken, "internal links that do not resolve:\n" + "\n".join(
        broken
    )
    missing = set()
    for url, facts in pages.items():
        for link in facts["links"]:
            target, fragment = urllib.parse.urldefrag(link)
            if not fragment or not target.startswith(server):
                continue
            fragment = urllib.parse.unquote(fragment)
            if target not in pages:
                continue  # a file (a notebook download): no anchors
            ids = set(pages[target]["ids"]) | set(pages[target]["names"])
            if fragment not in ids:
                missing.add(f"{_relative(server, url)} -> {link}")
    assert not missing, "links to anchors that do not exist:\n" + "\n".join(
        sorted(missing)
    )


def test_math_is_typeset(server, crawl):
    raw = [
        f"{_relative(server, url)}: {text}"
        for url, facts in crawl["pages"].items()
        for text in facts["rawMath"]
    ]
    assert not raw, "math left as TeX source:\n" + "\n".join(raw)


def _tutorials():
    """{(language, stem): shows a figure} from the tutorials' sources."""
    out = {}
    for language in ("en", "ja"):
        folder = REPO / "tutorials" / language
        for path in sorted(folder.glob("*.py")) + sorted(
            folder.glob("*.ipynb")
        ):
            if TUTORIAL.fullmatch(path.stem):
                text = path.read_text(encoding="utf-8")
                out[language, path.stem] = out.get(
                    (language, path.stem), False
                ) or ("show(" in text)
    return out


def test_tutorials_are_executed_with_their_plots(server, crawl):
    pages = crawl["pages"]
    tutorials = _tutorials()
    assert len(tutorials) >= 20
    problems = []
    for (language, stem), plots in tutorials.items():
        prefix = "" if language == "en" else "ja/"
        url = f"{server}{prefix}tutorials/{stem}/"
        if url not in pages:
            problems.append(f"{language}/{stem}: no page at {url}")
            continue
        facts = pages[url]["notebook"]
        unrun = [p for p in facts["prompts"] if not re.search(r"\d", p)]
        if not facts["cells"] or unrun or not facts["outputs"]:
            problems.append(
                f"{language}/{stem}: {facts['cells']} code cells, "
                f"{len(unrun)} not executed, {facts['outputs']} outputs"
            )
        decoded = [w for complete, w in facts["plots"] if complete and w > 0]
        if len(decoded) != len(facts["plots"]):
            problems.append(f"{language}/{stem}: a plot did not decode")
        if plots and not decoded:
            problems.append(f"{language}/{stem}: shows figures, none here")
    assert not problems, "\n".join(problems)


def test_japanese_text_renders_with_a_cjk_font(server, crawl):
    pages = crawl["pages"]
    japanese = [url for url in pages if url.startswith(f"{server}ja/")]
    assert len(japanese) > 10
    tofu = []
    for url in japanese + [u for u in pages if u not in japanese]:
        glyphs = pages[url]["cjk"]
        if url in japanese and not glyphs:
            tofu.append(f"{_relative(server, url)}: no Japanese text found")
        images = [g["image"] for g in glyphs]
        for glyph in glyphs:
            if (
                glyph["image"] == glyph["tofu"]
                or images.count(glyph["image"]) > 1
            ):
                tofu.append(
                    f"{_relative(server, url)}: {glyph['ch']!r} draws as a "
                    f"missing-glyph box in {glyph['font']}"
                )
                break
    assert not tofu, "Japanese without a CJK font:\n" + "\n".join(tofu)


def _public_names():
    names = []
    for init in ("keras_attn/layers/__init__.py", "keras_attn/ops/__init__.py"):
        tree = ast.parse((REPO / init).read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(
                getattr(t, "id", None) == "__all__" for t in node.targets
            ):
                names += ast.literal_eval(node.value)
    return names


def test_api_reference_documents_the_public_api(server, crawl):
    pages = crawl["pages"]
    ids = set()
    for url in (f"{server}api/layers/", f"{server}api/ops/"):
        assert url in pages, f"no API page {url}"
        ids |= set(pages[url]["ids"])
    undocumented = [
        name
        for name in _public_names()
        if not any(i == name or i.endswith(f".{name}") for i in ids)
    ]
    assert not undocumented, f"not in the API reference: {undocumented}"


def test_language_switcher_leads_to_the_same_tutorial(server, crawl):
    pages = crawl["pages"]
    stem = sorted(stem for (lang, stem) in _tutorials() if lang == "ja")[0]
    english = pages[f"{server}tutorials/{stem}/"]["links"]
    japanese = pages[f"{server}ja/tutorials/{stem}/"]["links"]
    assert f"{server}ja/tutorials/{stem}/" in english
    assert f"{server}tutorials/{stem}/" in japanese


def test_screenshots(server, crawl, browser):
    """A tutorial page (en, ja), scrolled to its first plot, and an API page:
    CI keeps them as artifacts."""
    out = Path(os.environ.get("KERAS_ATTN_ARTIFACTS", REPO / "artifacts"))
    out = out / "site"
    out.mkdir(parents=True, exist_ok=True)
    pages = crawl["pages"]
    plotted = sorted(
        stem
        for (lang, stem), plots in _tutorials().items()
        if lang == "ja" and plots
    )
    shots = {
        "tutorial_en.png": f"{server}tutorials/{plotted[0]}/",
        "tutorial_ja.png": f"{server}ja/tutorials/{plotted[0]}/",
        "api.png": f"{server}api/layers/",
    }
    for name, url in shots.items():
        assert url in pages
        browser.get(url)
        browser.execute_script(
            "const img = document.querySelector('.jp-OutputArea-output img');"
            "if (img) img.scrollIntoView({block: 'center'});"
        )
        assert browser.save_screenshot(str(out / name))
        assert (out / name).stat().st_size > 10_000
