"""Tests for digest.catalog: the bundled catalog's promises to readers, and every validation rule.

The bundled-catalog tests pin what DESIGN.md §1 promises (countries, the languages each offers,
the seed sources, timezones), so an edit that strands a reader (a language with no source, a
seed outlet dropped) fails here rather than in a menu. The validation tests feed one small
broken catalog per rule and check the one-line message names the file and the entry.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from digest.catalog import (
    CATEGORIES,
    FEED_CATEGORIES,
    LANGUAGES,
    Catalog,
    CatalogError,
    default_catalog_path,
    load_catalog,
)
from digest.errors import DigestError


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


# --- the bundled catalog ----------------------------------------------------------------------

LANGUAGE_OFFER = {
    "IN": ("en", "hi"),
    "US": ("en",),
    "QA": ("ar", "en"),
    "DE": ("de", "en"),
    "CN": ("zh", "en"),
    "CA": ("en", "fr"),
    "WORLD": ("en", "hi", "ar", "de", "zh", "fr"),
}

TIMEZONES = {
    "IN": ("Asia/Kolkata",),
    "US": (
        "America/New_York",
        "America/Chicago",
        "America/Denver",
        "America/Phoenix",
        "America/Los_Angeles",
        "America/Anchorage",
        "Pacific/Honolulu",
    ),
    "QA": ("Asia/Qatar",),
    "DE": ("Europe/Berlin",),
    "CN": ("Asia/Shanghai",),
    "CA": (
        "America/Toronto",
        "America/Halifax",
        "America/St_Johns",
        "America/Winnipeg",
        "America/Regina",
        "America/Edmonton",
        "America/Vancouver",
    ),
    "WORLD": (
        "UTC",
        "Europe/London",
        "Europe/Paris",
        "Asia/Dubai",
        "Asia/Kolkata",
        "Asia/Shanghai",
        "America/New_York",
        "America/Los_Angeles",
    ),
}

# The seed lists of DESIGN.md §1, as catalog names. Where a publisher has one entry per language
# the seed maps to each of them ("Al Jazeera" -> English and Arabic); "BBC" / "BBC World" is the
# English "BBC News" entry; "DW" is "DW English" + "DW German".
SEEDS = {
    "IN": (
        "AajTak",
        "NDTV India",
        "The Hindu",
        "India Today",
        "Zee News",
        "NDTV",
        "BBC News",
        "The Wire",
        "News18",
        "News 24",
        "The Quint",
        "ABP News",
    ),
    "US": (
        "CNN",
        "Fox News",
        "Al Jazeera English",
        "CBSN",
        "NY Post",
        "Voice of America",
        "The New York Times",
        "HuffPost",
        "ABC News",
        "Newsy",
    ),
    "QA": (
        "Al Jazeera Arabic",
        "Al Jazeera English",
        "Al Arab",
        "The Peninsula",
        "Gulf Times",
        "Al Sharq",
        "Qatar Tribune",
        "Al Raya",
        "Lusail",
    ),
    "DE": (
        "DW English",
        "DW German",
        "ZDF",
        "ProSieben",
        "RTL",
        "n-tv",
        "Die Welt",
        "Süddeutsche Zeitung",
        "Frankfurter Rundschau",
    ),
    "CN": (
        "China Daily",
        "BBC News",
        "BBC Chinese",
        "The New York Times",
        "The New York Times Chinese",
        "Voice of America",
        "Voice of America Chinese",
        "Beijing Daily",
        "The Epoch Times",
        "Ta Kung Pao",
        "Xinmin Evening News",
    ),
    "CA": (
        "CBC",
        "Radio-Canada",
        "CTV",
        "TVA Nouvelles",
        "Le Journal de Montréal",
        "Global News",
        "BNN Bloomberg",
        "Métro",
    ),
    "WORLD": (
        "BBC News",
        "Al Jazeera English",
        "Al Jazeera Arabic",
        "DW English",
        "DW German",
        "France 24 English",
        "France 24 French",
        "France 24 Arabic",
        "Voice of America",
        "BBC Hindi",
        "BBC Chinese",
        "DW Chinese",
    ),
}


def test_bundled_catalog_is_the_default_and_lists_the_seven_countries(catalog: Catalog) -> None:
    assert default_catalog_path() == Path(__file__).resolve().parents[2] / "digest" / "catalog.toml"
    assert catalog.path == default_catalog_path()
    assert [c.code for c in catalog.countries] == ["IN", "US", "QA", "DE", "CN", "CA", "WORLD"]


@pytest.mark.parametrize("code", list(LANGUAGE_OFFER))
def test_country_offers_exactly_the_listed_languages(catalog: Catalog, code: str) -> None:
    country = catalog.country(code)
    assert country is not None
    assert country.languages == LANGUAGE_OFFER[code]


@pytest.mark.parametrize("code", list(LANGUAGE_OFFER))
def test_every_offered_language_has_an_offered_source(catalog: Catalog, code: str) -> None:
    # Otherwise a reader could pick a primary language and then find no source in it.
    assert catalog.languages_with_sources(code) == LANGUAGE_OFFER[code]


@pytest.mark.parametrize("code", list(TIMEZONES))
def test_country_timezones_and_default(catalog: Catalog, code: str) -> None:
    country = catalog.country(code)
    assert country is not None
    assert country.timezones == TIMEZONES[code]
    assert country.default_timezone == TIMEZONES[code][0]
    assert country.asks_timezone is (len(TIMEZONES[code]) > 1)


@pytest.mark.parametrize("code", list(SEEDS))
def test_every_seed_source_is_present_in_its_country(catalog: Catalog, code: str) -> None:
    names = {s.name for s in catalog.sources if code in s.countries}
    missing = [name for name in SEEDS[code] if name not in names]
    assert missing == []


@pytest.mark.parametrize(
    ("source_id", "language", "countries"),
    [
        ("aje", "en", {"US", "QA", "WORLD"}),
        ("aja", "ar", {"QA", "WORLD"}),
        ("bbc", "en", {"IN", "CN", "WORLD"}),
        ("nyt", "en", {"US", "CN"}),
        ("voa", "en", {"US", "CN", "WORLD"}),
        ("voa_zh", "zh", {"CN"}),
        ("chinadaily", "en", {"CN"}),
        ("aajtak", "hi", {"IN"}),
        ("radiocanada", "fr", {"CA"}),
        ("f24_en", "en", {"WORLD"}),
        ("f24_fr", "fr", {"WORLD"}),
        ("f24_ar", "ar", {"WORLD"}),
        ("dw_en", "en", {"DE", "WORLD"}),
        ("dw_de", "de", {"DE", "WORLD"}),
    ],
)
def test_source_language_is_what_it_publishes_in(
    catalog: Catalog, source_id: str, language: str, countries: set[str]
) -> None:
    source = catalog.source(source_id)
    assert source is not None
    assert source.language == language
    assert countries <= set(source.countries)
    assert source.offered


def test_sources_without_feeds_are_marked_and_never_offered(catalog: Catalog) -> None:
    unoffered = {s.id for s in catalog.sources if not s.offered}
    assert unoffered == {"news24", "newsy", "prosieben", "beijingdaily", "takungpao", "metro"}
    assert all(s.no_feed for s in catalog.sources if not s.offered)
    assert all(s.no_feed is None for s in catalog.sources if s.offered)
    assert unoffered.isdisjoint(s.id for s, _ in catalog.feeds())
    assert "metro" not in [s.id for s in catalog.sources_for("CA", ["fr"])]


def test_feeds_lists_one_row_per_feed_of_offered_sources(catalog: Catalog) -> None:
    rows = catalog.feeds()
    assert len(rows) == sum(len(s.feeds) for s in catalog.sources if s.offered)
    assert {f.category for _, f in rows} <= set(FEED_CATEGORIES)
    urls = [f.url for _, f in rows]
    assert len(urls) == len(set(urls)), "a URL listed twice would be fetched twice"


def test_every_reader_category_has_feeds_somewhere(catalog: Catalog) -> None:
    present = {f.category for _, f in catalog.feeds()}
    assert set(CATEGORIES) <= present


def test_known_dead_or_wrong_urls_are_not_used(catalog: Catalog) -> None:
    urls = [f.url for _, f in catalog.feeds()]
    for dead_host in ("rss.dw-world.de", "rss.dw.de/", "feeds.foxnews.com"):
        assert not [u for u in urls if dead_host in u]
    # al-sharq.com/rss is an HTML index; gulf-times.com/feed is a 404; the Peninsula /feed is empty.
    for wrong in (
        "https://al-sharq.com/rss",
        "https://www.gulf-times.com/feed",
        "https://thepeninsulaqatar.com/feed",
    ):
        assert wrong not in urls


def test_voa_url_keeps_its_literal_dollar(catalog: Catalog) -> None:
    voa = catalog.source("voa")
    assert voa is not None
    assert [f.url for f in voa.feeds] == ["https://www.voanews.com/api/zk_$egt"]


def test_sources_for_filters_by_country_and_language_in_catalog_order(catalog: Catalog) -> None:
    french = catalog.sources_for("CA", ["fr"])
    assert [s.id for s in french] == ["radiocanada", "tva", "jdm"]
    assert catalog.sources_for("US", ["fr"]) == []
    both = catalog.sources_for("CA", ["fr", "en"])
    assert {s.language for s in both} == {"en", "fr"}
    order = [catalog.sources.index(s) for s in both]
    assert order == sorted(order)
    assert all("CA" in s.countries for s in both)


def test_lookups_of_unknown_codes_return_nothing(catalog: Catalog) -> None:
    assert catalog.country("XX") is None
    assert catalog.source("nope") is None
    assert catalog.languages_with_sources("XX") == ()
    assert set(LANGUAGES) == {"en", "hi", "ar", "de", "zh", "fr"}


# --- validation -------------------------------------------------------------------------------

VALID = textwrap.dedent(
    """\
    [[countries]]
    code = "CA"
    name = "Canada"
    languages = ["en", "fr"]
    timezones = ["America/Toronto", "America/Vancouver"]

    [[countries]]
    code = "WORLD"
    name = "World"
    languages = ["en"]
    timezones = ["UTC"]

    [[sources]]
    id = "cbc"
    name = "CBC"
    countries = ["CA"]
    language = "en"
    homepage = "https://www.cbc.ca"

      [[sources.feeds]]
      category = "national"
      url = "https://www.cbc.ca/webfeed/rss/rss-canada"

    [[sources]]
    id = "metro"
    name = "Métro"
    countries = ["CA"]
    language = "fr"
    homepage = "https://journalmetro.com"
    no_feed = "no public feed known"
    """
)

CBC = "sources[0] (id='cbc')"
METRO = "sources[1] (id='metro')"
CBC_FEED = "sources[0] (id='cbc').feeds[0]"
CA = "countries[0] (code='CA')"
WORLD = "countries[1] (code='WORLD')"

# (id, text to replace in VALID, replacement, entry named, problem named)
BROKEN = [
    ("toml-syntax", 'name = "Canada"\n', 'name = "Canada\n', "toml", "line 3"),
    ("unknown-category", '"national"', '"weather"', CBC_FEED, "unknown category 'weather'"),
    ("country-language", '["en", "fr"]', '["en", "es"]', CA, "unknown language 'es'"),
    ("source-language", 'language = "fr"', 'language = "xx"', METRO, "unknown language 'xx'"),
    ("duplicate-id", 'id = "metro"', 'id = "cbc"', "sources[1] (id='cbc')", "duplicate source id"),
    (
        "duplicate-code",
        'code = "WORLD"',
        'code = "CA"',
        "countries[1] (code='CA')",
        "duplicate country code",
    ),
    (
        "unknown-country",
        'countries = ["CA"]\nlanguage = "en"',
        'countries = ["CA", "XX"]\nlanguage = "en"',
        CBC,
        "unknown country 'XX'",
    ),
    ("no-languages", '["en", "fr"]', "[]", CA, "country has no languages"),
    (
        "language-not-offered",
        'countries = ["CA"]\nlanguage = "fr"',
        'countries = ["WORLD"]\nlanguage = "fr"',
        METRO,
        "language 'fr' is not offered",
    ),
    (
        "missing-homepage",
        'homepage = "https://www.cbc.ca"\n',
        "",
        CBC,
        "missing required key 'homepage'",
    ),
    ("missing-country-name", 'name = "World"\n', "", WORLD, "missing required key 'name'"),
    ("missing-id", 'id = "cbc"\n', "", "sources[0]", "missing required key 'id'"),
    (
        "ftp-url",
        "https://www.cbc.ca/webfeed/rss/rss-canada",
        "ftp://www.cbc.ca/feed",
        CBC_FEED,
        "is not http(s)",
    ),
    (
        "schemeless-url",
        "https://www.cbc.ca/webfeed/rss/rss-canada",
        "www.cbc.ca/feed",
        CBC_FEED,
        "is not http(s)",
    ),
    (
        "no-feed-no-marker",
        'no_feed = "no public feed known"\n',
        "",
        METRO,
        "no feeds and no 'no_feed' reason",
    ),
    (
        "feeds-and-marker",
        'homepage = "https://www.cbc.ca"\n',
        'homepage = "https://www.cbc.ca"\nno_feed = "gone"\n',
        CBC,
        "has feeds and a 'no_feed'",
    ),
    (
        "invalid-timezone",
        '"America/Vancouver"',
        '"America/Atlantis"',
        CA,
        "invalid timezone 'America/Atlantis'",
    ),
    ("missing-timezones", 'timezones = ["UTC"]\n', "", WORLD, "missing required key 'timezones'"),
    ("empty-timezones", 'timezones = ["UTC"]', "timezones = []", WORLD, "missing timezones"),
    ("bad-source-id", 'id = "cbc"', 'id = "CBC News"', "sources[0]", "may use only a-z"),
    (
        "duplicate-feed-url",
        'category = "national"\n  url = "https://www.cbc.ca/webfeed/rss/rss-canada"\n',
        'category = "national"\n  url = "https://www.cbc.ca/webfeed/rss/rss-canada"\n\n'
        '  [[sources.feeds]]\n  category = "general"\n'
        '  url = "https://www.cbc.ca/webfeed/rss/rss-canada"\n',
        "sources[0] (id='cbc').feeds[1]",
        "duplicate feed url",
    ),
    ("languages-not-a-list", '["en", "fr"]', '"en"', CA, "'languages' must be a list of strings"),
]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad-catalog.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_valid_base_catalog_loads(tmp_path: Path) -> None:
    # Every broken case below differs from this one by a single edit.
    catalog = load_catalog(write(tmp_path, VALID))
    assert [s.id for s in catalog.sources_for("CA", ["en", "fr"])] == ["cbc"]
    assert catalog.languages_with_sources("CA") == ("en",)  # Métro has no feed: fr is stranded
    assert catalog.country("CA") is not None


@pytest.mark.parametrize(
    ("old", "new", "entry", "problem"),
    [case[1:] for case in BROKEN],
    ids=[case[0] for case in BROKEN],
)
def test_invalid_catalog_is_rejected_naming_file_and_entry(
    tmp_path: Path, old: str, new: str, entry: str, problem: str
) -> None:
    assert old in VALID
    path = write(tmp_path, VALID.replace(old, new, 1))
    with pytest.raises(CatalogError) as raised:
        load_catalog(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: {entry}: "), message
    assert problem in message
    assert "\n" not in message


def test_catalog_without_sources_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.split("[[sources]]")[0])
    with pytest.raises(CatalogError, match=r"bad-catalog\.toml: sources: missing required"):
        load_catalog(path)


def test_unreadable_file_is_a_catalog_error(tmp_path: Path) -> None:
    path = tmp_path / "missing.toml"
    with pytest.raises(CatalogError) as raised:
        load_catalog(path)
    assert str(raised.value).startswith(f"{path}: file: cannot read")
    assert isinstance(raised.value, DigestError)  # callers catch the package root
