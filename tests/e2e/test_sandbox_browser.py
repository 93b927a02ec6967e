"""`newsbot sandbox --offline` as a newcomer uses it: a real headless Chromium on the chat page.

Debian's ``chromium`` and ``chromium-driver`` (installed by ``.ci/run``) driven by Selenium: no
browser download. The sandbox runs as a subprocess, exactly as ``make run`` starts it, with the
bundled sample news; the test only clicks and types on the page and reads what it shows.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from newsbot_testing.launcher import bot_env
from views.i18n import gettext_for

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WAIT = 20.0
HOSTILE = (
    '<img src=x onerror="window.__pwned=1">'
    "<script>window.__pwned=2</script>"
    '<a href="javascript:window.__pwned=3">click</a>'
    '<b onclick="window.__pwned=4" style="color:red">bold</b>'
    '<svg onload="window.__pwned=5"><circle r=9 /></svg>'
    '<iframe srcdoc="&lt;script&gt;parent.__pwned=6&lt;/script&gt;"></iframe>'
    '<span class="x" onmouseover="window.__pwned=7">plain</span>'
    "&lt;img src=x onerror=alert(1)&gt;"
)


def _browser_tools() -> None:
    """CI installs chromium (.ci/run): there, missing tools fail; locally they skip."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if not missing:
        return
    message = f"{', '.join(missing)} missing: apt-get install -y chromium chromium-driver"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def sandbox_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``newsbot sandbox --offline --port 0`` in its own folder; yields the page's address."""
    _browser_tools()
    folder = tmp_path_factory.mktemp("sandbox")
    log = (folder / "sandbox.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "sandbox", "--offline", "--port", "0"],
        cwd=folder,
        env=bot_env(DATABASE_URL=f"sqlite:///{folder / 'sandbox.db'}"),
        stdout=subprocess.PIPE,
        stderr=log,
    )
    assert process.stdout is not None
    try:
        ready, _, _ = select.select([process.stdout], [], [], 60)
        line = process.stdout.readline().decode() if ready else ""
        found = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert found, f"no address in {line!r}; log: {(folder / 'sandbox.log').read_text()}"
        assert "TELEGRAM_BOT_TOKEN" in line
        yield found[0]
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
    assert process.returncode == 0, (folder / "sandbox.log").read_text()


@pytest.fixture(scope="module")
def driver(sandbox_url: str) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1200,900", "--lang=en-GB", "--no-first-run"):  # fmt: skip
        options.add_argument(argument)
    browser = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        browser.get(sandbox_url)
        yield browser
    finally:
        browser.quit()


class ChatPage:
    """The page as a person sees it: click by label, type, read the visible text."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver

    def wait(self, condition: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            result = condition()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within {timeout}s. The chat shows:\n"
                                     + "\n---\n".join(self.messages()[-4:]))  # fmt: skip
            self.driver.execute_async_script("setTimeout(arguments[0], 50)")  # the page's tick

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def messages(self) -> list[str]:
        return list(self.js(
            "return Array.from(document.querySelectorAll('#messages .msg')).map(m => m.innerText)"
        ))  # fmt: skip

    def bot_says(self, *words: str) -> str:
        """Wait until one of the bot's messages contains every word; return its text."""

        def found() -> str | None:
            texts = self.js(
                "return Array.from(document.querySelectorAll('#messages .msg.in .bubble'))"
                ".map(b => b.innerText)"
            )
            return next((t for t in reversed(texts) if all(w in t for w in words)), None)

        return str(self.wait(found, f"a bot message with {words}"))

    def signature(self) -> str:
        return str(self.js("return document.getElementById('messages').innerText"))

    def press(self, label: str, *, expect_change: bool = True) -> None:
        """Click the newest inline button whose label contains ``label``, wait for the chat to
        change (the menu edited in place, or a new message)."""
        before = self.signature()
        self.wait(lambda: self._click(".msg .kb-button", label), f"a button {label!r}")
        if expect_change:
            self.wait(lambda: self.signature() != before, f"the chat to change after {label!r}")

    def _click(self, selector: str, label: str) -> bool:
        return bool(self.js(
            "const all = Array.from(document.querySelectorAll(arguments[0]))"
            "  .filter(b => b.innerText.includes(arguments[1]) && !b.disabled);"
            "if (!all.length) return false; all[all.length - 1].click(); return true;",
            selector, label,
        ))  # fmt: skip

    def click(self, selector: str, label: str = "") -> None:
        self.wait(lambda: self._click(selector, label), f"{selector} {label!r}")

    def as_user(self, name: str) -> None:
        self.click(".user", name)
        selected = "return document.querySelector('.user.selected').innerText"
        self.wait(lambda: name in self.js(selected), f"{name} selected")

    def send(self, text: str) -> None:
        self.js(
            "const input = document.getElementById('text'); input.value = arguments[0];"
            "document.getElementById('send').click();",
            text,
        )
        self.wait(lambda: any(text in m for m in self.messages()), f"{text!r} in the chat")

    def toast(self) -> str:
        return str(self.js("const t = document.getElementById('toast');"
                           "return t.hidden ? '' : t.innerText;"))  # fmt: skip


def complete_setup(
    page: ChatPage,
    country: str,
    sources: tuple[str, ...],
    category: str,
    time_label: str,
    language: str = "en",
) -> None:
    """/start to Confirm, reading and pressing in the user's interface ``language``."""
    _ = gettext_for(language)
    page.send("/start")
    page.bot_says(_("Choose your primary country"))
    page.press(country)
    page.press(_("Skip"))
    page.bot_says(_("Set news source for {country}").format(country=country))
    for source in sources:
        page.press(source)
    page.press(_("Done") if len(sources) > 1 else _("Skip"))
    page.bot_says(_("Which news do you want in your digests? Pick one or more."))
    page.press(_(category))
    page.press(_("Done"))
    page.bot_says(_("Delivery time"))
    page.press(time_label)
    page.press(_("Done"))
    page.bot_says(_("Almost done: please check"))
    page.press(_("Confirm"))
    page.bot_says(_("✅ All set! Your digests will arrive on time."))


def test_a_newcomer_sets_up_gets_a_digest_and_an_admin_broadcasts(
    driver: Any, tmp_path: Path
) -> None:
    started = time.monotonic()
    page = ChatPage(driver)
    lap = Laps()
    page.wait(lambda: page.js("return document.body.dataset.ready === 'true'"), "the page")

    page.as_user("Ben")
    complete_setup(
        page, "Ireland", ("Harbour Herald", "Valley Courier", "Coast Wire"), "National", "08:00"
    )

    lap("setup Ben")
    page.click("#menu-button")  # the command menu the bot set with setMyCommands
    page.click(".command", "/settings")
    settings = page.bot_says("Settings", "Tap a part to change it")
    assert "Harbour Herald" in settings and "08:00" in settings

    lap("settings")
    page.click("#clock-next")  # the clock jumps to Ben's 08:00 and the digest tick runs
    digest = page.bot_says("🗞 National", "Tidal lagoon project wins planning approval")
    assert "Harbour Herald" in digest
    assert "(+" in page.js("return document.getElementById('clock-now').innerText")

    lap("digest")
    page.press("1 · 📖 Full story")  # fetched from the local sample page, extracted
    page.bot_says("sea wall four kilometres long", "Sixteen turbines")
    lap("full story")
    page.press("More related news")  # the full story's button; other sources' takes
    related = page.bot_says("Related to: Tidal lagoon project wins planning approval")
    assert "1. Planning approval granted for the tidal lagoon project" in related
    assert "Coast Wire" in related

    lap("related")
    page.as_user("Chloé")
    # Telegram says Chloé's language is French: the whole setup speaks French.
    complete_setup(page, "Irlande", ("Coast Wire",), "Business", "07:00", language="fr")

    lap("setup Chloé")
    page.as_user("Ada")  # the sandbox's admin (her id is in ADMIN_IDS)
    page.send("/broadcast Hello from the sandbox, readers!")
    page.bot_says("Who to?")
    page.press("Everyone (2)")
    page.bot_says("Send to 2 readers")
    page.press("Confirm")
    for reader in ("Ben", "Chloé"):
        page.as_user(reader)
        page.bot_says("Hello from the sandbox, readers!")

    lap("broadcast")
    page.as_user("Ada")
    page.send("/stats")  # the summary, then the chart: sendPhoto with an uploaded PNG
    drawn = (
        "const img = document.querySelector('#messages .msg.in img.photo');"
        "return img !== null && img.complete && img.naturalWidth > 100;"
    )
    page.wait(lambda: page.js(drawn), "the chart drawn")
    lap("stats")
    shot = tmp_path / "sandbox-chat.png"
    assert driver.save_screenshot(str(shot))
    assert_not_blank(shot)
    print(f"browser flow: {time.monotonic() - started:.1f}s, screenshot {shot}")


def test_the_renderer_builds_only_allowed_elements_from_hostile_html(driver: Any) -> None:
    page = ChatPage(driver)
    page.wait(lambda: page.js("return document.body.dataset.ready === 'true'"), "the page")
    result = page.js(
        "const box = document.createElement('div'); document.body.append(box);"
        "box.append(NewsbotRender.renderBotHtml(arguments[0]));"
        "const all = Array.from(box.querySelectorAll('*'));"
        "const out = {tags: all.map(e => e.localName), text: box.textContent,"
        "  handlers: all.flatMap(e => Array.from(e.attributes).map(a => a.name))"
        "    .filter(n => n.startsWith('on') || n === 'style' || n === 'srcdoc'),"
        "  hrefs: Array.from(box.querySelectorAll('a')).map(a => a.getAttribute('href'))};"
        "box.remove(); return out;",
        HOSTILE,
    )
    assert result["tags"] == ["a", "b"], result  # the bold text and a link without its href
    assert result["handlers"] == [] and result["hrefs"] == [None]
    assert "<img src=x onerror=alert(1)>" in result["text"]  # escaped text stays text
    assert "window.__pwned" not in result["text"]  # script bodies are dropped, not shown
    assert page.js("return window.__pwned === undefined")

    allowed = page.js(
        "const box = document.createElement('div');"
        "box.append(NewsbotRender.renderBotHtml(arguments[0]));"
        "return Array.from(box.querySelectorAll('*')).map(e => e.outerHTML);",
        '<b>b</b><i>i</i><u>u</u><s>s</s><a href="https://example.org/a?x=1&amp;y=2">l</a>'
        '<tg-spoiler>t</tg-spoiler><span class="tg-spoiler">t</span><code>c</code>'
        '<pre><code class="language-python">p</code></pre><blockquote>q</blockquote>',
    )
    assert allowed[:4] == ["<b>b</b>", "<i>i</i>", "<u>u</u>", "<s>s</s>"]
    assert allowed[4].startswith('<a href="https://example.org/a?x=1&amp;y=2"')
    assert allowed[5:7] == ['<span class="tg-spoiler">t</span>'] * 2
    assert '<code class="language-python">p</code>' in allowed
    assert "<blockquote>q</blockquote>" in allowed


def assert_not_blank(png: Path) -> None:
    """A screenshot of a drawn page has many colours and real contrast, a blank one has not."""
    from PIL import Image, ImageStat

    with Image.open(png) as image:
        rgb = image.convert("RGB")
        assert rgb.size[0] >= 800 and rgb.size[1] >= 600
        colours = rgb.getcolors(maxcolors=1 << 20) or []
        spread = ImageStat.Stat(rgb.convert("L")).stddev[0]
    assert len(colours) > 200, f"only {len(colours)} colours in {png}"
    assert spread > 20, f"grey-level standard deviation {spread:.1f} in {png}"


class Laps:
    """Prints seconds per step with -s (where the browser test spends its time)."""

    def __init__(self) -> None:
        self.last = time.monotonic()

    def __call__(self, what: str) -> None:
        now = time.monotonic()
        print(f"  {what}: {now - self.last:.2f}s")
        self.last = now
