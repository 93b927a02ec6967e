"""Every interface language's catalog is complete, exact and up to date with the code (#10).

A catalog that misses a message shows English in the middle of another language; a fuzzy entry is
a guess nobody checked; a placeholder lost or renamed in a translation raises KeyError (or shows
"{country}") at the moment a reader gets the message. Each test names the language and message.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from babel import Locale
from babel.messages.catalog import Catalog as PoCatalog
from babel.messages.catalog import Message
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from views.i18n import DOMAIN, LOCALE_DIR, UI_LANGUAGES

ROOT = Path(__file__).parents[2]
POT = LOCALE_DIR / "newsbot.pot"
TRANSLATED = [language for language in UI_LANGUAGES if language != "en"]
PACKAGES = ("bot", "handlers", "push", "views")  # what `make messages` extracts
# str.format fields ({country}, {n}) and %-style ones (%(x)s, %d): both must survive translation.
PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}|%\([A-Za-z_]+\)[sdif]|%[sdif]")
# In a plural form the count itself may be spelled out ("eine Zustellzeit", "يوم واحد").
COUNTS = frozenset({"{n}", "{days}", "{count}"})


def po_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def read(path: Path, language: str | None = None) -> PoCatalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=language)


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def ids(message: Message) -> tuple[str, ...]:
    return message.id if isinstance(message.id, tuple) else (message.id,)


def forms(message: Message) -> tuple[str, ...]:
    return message.string if isinstance(message.string, tuple) else (message.string,)


def template_ids() -> set[str]:
    return {ids(m)[0] for m in read(POT) if m.id}


@pytest.mark.parametrize("language", TRANSLATED)
def test_catalog_translates_every_message_without_guesses(language: str) -> None:
    path = po_path(language)
    assert path.exists(), f"no catalog for {language}: pybabel init ... -l {language}"
    catalog = read(path, language)
    problems: list[str] = []
    present = {ids(m)[0] for m in catalog if m.id}
    problems += [f"missing: {msgid!r}" for msgid in sorted(template_ids() - present)]
    for message in catalog:
        if not message.id:
            continue
        if message.fuzzy:
            problems.append(f"fuzzy: {ids(message)[0]!r}")
        if any(not form.strip() for form in forms(message)):
            problems.append(f"untranslated: {ids(message)[0]!r}")
    assert not problems, f"{language}:\n" + "\n".join(problems)


@pytest.mark.parametrize("language", TRANSLATED)
def test_translations_keep_every_placeholder(language: str) -> None:
    catalog = read(po_path(language), language)
    problems: list[str] = []
    for message in catalog:
        if not message.id:
            continue
        wanted = set().union(*(placeholders(msgid) for msgid in ids(message)))
        plural = isinstance(message.id, tuple)
        for index, form in enumerate(forms(message)):
            found = placeholders(form)
            missing = wanted - found - (COUNTS if plural else frozenset())
            if found - wanted or missing:
                problems.append(f"{ids(message)[0]!r} [{index}] → {form!r}")
    assert not problems, f"{language}: placeholders differ\n" + "\n".join(problems)


@pytest.mark.parametrize("language", TRANSLATED)
def test_plural_forms_follow_the_language(language: str) -> None:
    """The header's Plural-Forms decides which msgstr[i] a count picks: it must be CLDR's rule
    for the language (Arabic six forms, Chinese one), and every plural entry has every form."""
    catalog = read(po_path(language), language)
    expected = Locale.parse(language).plural_form
    assert catalog.num_plurals == len(expected.tags | {"other"}), catalog.plural_forms
    for message in catalog:
        if isinstance(message.id, tuple):
            assert len(forms(message)) == catalog.num_plurals, ids(message)[0]


@pytest.mark.parametrize("language", UI_LANGUAGES)
def test_compiled_catalog_matches_its_source(language: str) -> None:
    """The committed .mo is what the .po compiles to (so `make messages` was run after an edit)."""
    catalog = read(po_path(language), language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    fresh = Translations(buffer, domain=DOMAIN)
    with (po_path(language).with_suffix(".mo")).open("rb") as handle:
        committed = Translations(handle, domain=DOMAIN)
    assert committed._catalog == fresh._catalog, f"run `make messages` ({language})"  # type: ignore[attr-defined]


def test_no_translation_call_hides_from_extraction() -> None:
    """``gettext_for(lang)("text")`` works at run time but extraction never sees "text": the
    message would never reach a catalog. Code binds ``_``/``ngettext`` first (views/i18n.py)."""
    inline = re.compile(r"n?gettext_for\([^()]*(?:\([^()]*\))?[^()]*\)\(")
    hidden = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if inline.search(line)
        and not line.lstrip().startswith(("#", "``"))
        and "never call" not in line
    ]
    assert not hidden, "\n".join(hidden)


def test_every_string_in_the_code_is_in_the_template() -> None:
    """Extracts the code as `make messages` does (Babel's API, nothing written) and compares."""
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2)}
    found: set[str] = set()
    for package in PACKAGES:
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT / package, method_map=[("**.py", "python")], keywords=keywords
        ):
            found.add(message if isinstance(message, str) else message[0])
    found.discard("")
    template = template_ids()
    assert not found - template, f"not in the .pot, run `make messages`: {sorted(found - template)}"
    assert not template - found, (
        f"stale in the .pot, run `make messages`: {sorted(template - found)}"
    )


# German readers are addressed with "du" everywhere: a catalog that says "du" in /settings and
# "Sie" in /follow reads as two bots. Formal address shows as "Ihr…"/"Ihnen", as a "Sie" in the
# middle of a sentence, or as "Sie" opening a sentence with a plural verb ("Sie folgen …");
# "Sie beginnt" (the broadcast: "it begins") is not address.
FORMAL_GERMAN = re.compile(
    r"\b(?:Ihnen|Ihr|Ihre|Ihren|Ihrem|Ihrer|Ihres)\b"
    r"|(?<=[a-zäöüß,] )Sie\b"
    r"|(?:^|(?<=[.!?:] ))Sie \w+en\b"
)


def test_german_addresses_the_reader_one_way() -> None:
    formal = [
        (ids(m)[0], text)
        for m in read(po_path("de"), "de")
        if m.id
        for text in forms(m)
        if FORMAL_GERMAN.search(text)
    ]
    assert not formal, f"formal address in the German catalog (it says du): {formal}"
