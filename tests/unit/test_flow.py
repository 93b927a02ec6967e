"""The setup flow's decisions, without Telegram or a database."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from digest.catalog import Catalog
from storage.users import CountryChoice, Reader
from views.flow import (
    SETTINGS,
    SETUP,
    Step,
    StepKind,
    first_missing,
    forced_choice,
    next_step,
    options,
    previous_step,
    skipped,
)
from views.keyboards import decode, encode, pattern, prefix

BLANK = Reader(
    id=1,
    chat_id=1,
    first_name="Ada",
    ui_language="en",
    timezone=None,
    flow_step=None,
    flow_mode=SETUP,
    menu_message_id=None,
    setup_complete=False,
    active=True,
    paused=False,
    paused_until=None,
    next_due_at=None,
    quiet_start=None,
    quiet_end=None,
    stories_per_digest=5,
    empty_digest="skip",
    countries=(),
    categories=(),
    delivery_minutes=(),
)


def reader_with(*countries: CountryChoice, **fields: object) -> Reader:
    return replace(BLANK, countries=countries, **fields)  # type: ignore[arg-type]


def test_step_codes_round_trip() -> None:
    for code in ("c", "o", "lp.CA", "so.WORLD", "k", "t", "z", "m", "s"):
        step = Step.parse(code)
        assert step is not None and step.code == code
    for bad in ("", "lp", "c.CA", "zz", "lp.", None):
        assert Step.parse(bad) is None


def test_step_kind_values_are_the_stored_codes() -> None:
    """Stored ``flow_step`` values and buttons already sent carry these codes: they never change."""
    stored = {kind.name: kind.value for kind in StepKind}
    assert stored == {
        "COUNTRY": "c",
        "OTHER_COUNTRIES": "o",
        "LANGUAGE": "lp",
        "OTHER_LANGUAGES": "lo",
        "SOURCE": "sp",
        "OTHER_SOURCES": "so",
        "CATEGORIES": "k",
        "TIMES": "t",
        "TIMEZONE": "z",
        "SUMMARY": "m",
        "SETTINGS_MENU": "s",
        "QUIET_HOURS": "q",
        "DIGEST_SIZE": "n",
        "EMPTY_DIGEST": "e",
        "UI_LANGUAGE": "u",
    }
    parsed = Step.parse("lp.CA")
    assert parsed == Step(StepKind.LANGUAGE, "CA") and parsed.kind is StepKind.LANGUAGE


def test_new_reader_starts_with_primary_country(catalog: Catalog) -> None:
    assert first_missing(BLANK, catalog) == Step("c")
    assert options(Step("c"), BLANK, catalog) == ["IN", "US", "QA", "DE", "CN", "CA", "WORLD"]


def test_setup_walks_country_languages_sources_then_the_rest(catalog: Catalog) -> None:
    canada = CountryChoice("CA", True, ("fr",), ())
    reader = reader_with(canada, timezone="America/Toronto")
    assert next_step(Step("c"), reader, catalog, SETUP) == Step("o")
    assert next_step(Step("o"), reader, catalog, SETUP) == Step("lp", "CA")
    assert next_step(Step("lp", "CA"), reader, catalog, SETUP) == Step("lo", "CA")
    assert next_step(Step("lo", "CA"), reader, catalog, SETUP) == Step("sp", "CA")


def test_single_language_country_skips_other_languages(catalog: Catalog) -> None:
    usa = CountryChoice("US", True, ("en",), ())
    reader = reader_with(usa, timezone="America/New_York")
    assert forced_choice(Step("lp", "US"), reader, catalog) == "en"
    assert skipped(Step("lo", "US"), reader, catalog, SETUP)
    assert next_step(Step("lp", "US"), reader, catalog, SETUP) == Step("sp", "US")


def test_other_sources_follow_the_chosen_languages(catalog: Catalog) -> None:
    canada = CountryChoice("CA", True, ("fr",), ("radiocanada",))
    reader = reader_with(canada)
    offered = options(Step("so", "CA"), reader, catalog)
    assert "radiocanada" not in offered
    assert offered and all(catalog.source(s).language == "fr" for s in offered)  # type: ignore[union-attr]


def test_timezone_step_is_skipped_for_one_zone_countries_only(catalog: Catalog) -> None:
    germany = reader_with(CountryChoice("DE", True, ("de",), ("dw_de",)), timezone="Europe/Berlin")
    canada = reader_with(CountryChoice("CA", True, ("en",), ("cbc",)), timezone="America/Toronto")
    assert skipped(Step("z"), germany, catalog, SETUP)
    assert not skipped(Step("z"), canada, catalog, SETUP)
    assert not skipped(Step("z"), germany, catalog, SETTINGS)
    assert next_step(Step("t"), germany, catalog, SETUP) == Step("m")
    assert next_step(Step("t"), canada, catalog, SETUP) == Step("z")


def test_settings_mode_returns_to_menu_after_a_part(catalog: Catalog) -> None:
    done = reader_with(
        CountryChoice("IN", True, ("en",), ("thehindu",)),
        timezone="Asia/Kolkata",
        categories=("sports",),
        delivery_minutes=(420,),
    )
    assert next_step(Step("k"), done, catalog, SETTINGS) == Step("s")
    assert next_step(Step("lp", "IN"), done, catalog, SETTINGS) == Step("lo", "IN")
    assert next_step(Step("lo", "IN"), done, catalog, SETTINGS) == Step("s")
    assert previous_step(Step("k"), done, catalog, SETTINGS) == Step("s")


def test_settings_mode_asks_a_new_country_for_its_language(catalog: Catalog) -> None:
    reader = reader_with(
        CountryChoice("IN", True, ("en",), ("thehindu",)),
        CountryChoice("DE", False, (), ()),
        timezone="Asia/Kolkata",
        categories=("sports",),
        delivery_minutes=(420,),
    )
    assert next_step(Step("o"), reader, catalog, SETTINGS) == Step("lp", "DE")


def test_back_skips_steps_that_were_never_shown(catalog: Catalog) -> None:
    usa = CountryChoice("US", True, ("en",), ("cnn",))
    reader = reader_with(usa, timezone="America/New_York")
    # lp.US was answered automatically and lo.US had nothing to offer: Back goes to countries.
    assert previous_step(Step("sp", "US"), reader, catalog, SETUP) == Step("o")


@pytest.mark.parametrize(
    "data",
    [
        "",
        "1",
        "1|c",
        "2|c|p|CA",
        "1|c|p|CA|x",
        "1||p|CA",
        "1|c|p|<b>",
        "\x00\xff",
        "1|c|p|" + "A" * 80,
    ],
)
def test_forged_callback_data_decodes_to_none(data: str) -> None:
    assert decode(data) is None


def test_every_callback_fits_64_bytes(catalog: Catalog) -> None:
    longest = max((s.id for s in catalog.sources), key=len)
    data = encode("so.WORLD", "t", longest)
    assert len(data.encode()) <= 64
    assert decode(data) is not None
    with pytest.raises(ValueError):
        encode("s", "g", "x" * 70)


def test_route_patterns_and_prefixes_come_from_the_codec() -> None:
    """Routes match a menu's buttons through the codec, so a new version moves them all."""
    assert re.match(pattern("h"), encode("h", "p", "sports.1"))
    assert not re.match(pattern("h"), encode("hh", "p")) and not re.match(pattern("h"), "2|h|p|")
    assert re.match(pattern("B", numbered=True), encode("B17", "p", "a"))
    assert not re.match(pattern("B", numbered=True), encode("B", "p", "a"))
    assert encode("a", "c", "12.1").startswith(prefix("a", "c"))
    assert not encode("a", "f", "12").startswith(prefix("a", "c"))
