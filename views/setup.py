"""What each setup step looks like: its HTML text and its inline keyboard.

Pure functions of (step, reader, catalog, language): the handler decides which step to show and
these decide how. Every catalog-supplied name is escaped, every callback_data goes through the
codec (so it always fits 64 bytes), and a step never has more buttons than Telegram allows.
"""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from digest.catalog import ALL_CATEGORIES, CATEGORIES, Catalog
from storage.users import Reader
from views.bidi import isolate, isolate_all, rtl_start
from views.flow import (
    QUIET_OFF,
    SETTINGS,
    Step,
    StepKind,
    options,
    parse_quiet_code,
)
from views.i18n import ENDONYMS, Gettext, gettext_for, joined, language_name
from views.keyboards import Action, button, markup, rows_of
from views.labels import category_label, country_label, source_label
from views.mutes import settings_buttons as mute_settings_buttons
from views.render import bold, esc, hhmm, italic

CHECK = "✅ "


def summary_html(reader: Reader, catalog: Catalog) -> str:
    """Every choice in plain words, as /settings and the final setup step show it."""
    ui = reader.ui_language
    _ = gettext_for(ui)
    lines = [bold(_("Your news setup"))]
    for choice in reader.countries:
        name = country_label(choice.code, reader, catalog)
        heading = _("Primary country: {country}") if choice.is_primary else _("Also: {country}")
        lines.append("")
        lines.append("🌍 " + bold(heading.format(country=name)))
        languages = [language_name(code, reader.ui_language) for code in choice.languages]
        sources = isolate_all([source_label(sid, catalog) for sid in choice.sources], ui)
        none = _("not chosen yet")
        languages_text = _joined_primary(languages, _, ui) or none
        lines.append(esc(_("Languages: {list}").format(list=languages_text)))
        sources_text = _joined_primary(sources, _, ui) or none
        lines.append(esc(_("Sources: {list}").format(list=sources_text)))
    lines.append("")
    categories = joined((category_label(c, _) for c in _ordered_categories(reader)), ui)
    lines.append("🗂 " + esc(_("Categories: {list}").format(list=categories or _("none yet"))))
    times = isolate(", ".join(hhmm(m) for m in reader.delivery_minutes), ui) or _("none yet")
    lines.append("⏰ " + esc(_("Delivery: {times}").format(times=times)))
    zone = isolate(reader.timezone, ui) if reader.timezone else _("not set")
    lines.append("🕰 " + esc(_("Timezone: {zone}").format(zone=zone)))
    if reader.quiet_start is not None and reader.quiet_end is not None:
        window = isolate(f"{hhmm(reader.quiet_start)}–{hhmm(reader.quiet_end)}", ui)
        lines.append("🌙 " + esc(_("Quiet hours: {window}").format(window=window)))
    count = isolate(str(reader.stories_per_digest), ui)
    lines.append("🔢 " + esc(_("Stories per digest: {count}").format(count=count)))
    language = ENDONYMS.get(ui, ui)
    lines.append("🌐 " + esc(_("Language of the bot: {language}").format(language=language)))
    if reader.paused:
        lines.append("")
        lines.append(italic(_("Deliveries are paused. Send /resume to resume them.")))
    return "\n".join(lines)


def step_view(
    step: Step, reader: Reader, catalog: Catalog, mode: str, note: str | None = None
) -> tuple[str, InlineKeyboardMarkup]:
    """Text and keyboard for ``step``; ``note`` is a one-line remark shown on top."""
    _ = gettext_for(reader.ui_language)
    title, body, rows = _STEP_BUILDERS[step.kind](step, reader, catalog, _)
    nav: list[InlineKeyboardButton] = []
    if step.kind != StepKind.SETTINGS_MENU and (step.kind != StepKind.COUNTRY or mode == SETTINGS):
        nav.append(button("⬅️ " + _("Back"), step.code, Action.BACK))
    nav.extend(_finish_buttons(step, reader, _))
    parts = [italic(note)] if note else []
    parts.append(bold(title))
    if body:
        parts.append(body)
    return rtl_start("\n\n".join(parts), reader.ui_language), markup([*rows, nav])


def _finish_buttons(step: Step, reader: Reader, _: Gettext) -> list[InlineKeyboardButton]:
    if step.kind in (StepKind.OTHER_COUNTRIES, StepKind.OTHER_LANGUAGES, StepKind.OTHER_SOURCES):
        selected = _selected(step, reader)
        label, action = (_("Done"), Action.DONE) if selected else (_("Skip"), Action.SKIP)
        return [button(label + " ➡️", step.code, action)]
    if step.kind in (StepKind.CATEGORIES, StepKind.TIMES):
        return [button(_("Done") + " ➡️", step.code, Action.DONE)]
    if step.kind == StepKind.TIMEZONE and reader.timezone:
        zone = isolate(reader.timezone, reader.ui_language)
        return [button(_("Keep {zone}").format(zone=zone), step.code, Action.DONE)]
    if step.kind == StepKind.SUMMARY:
        return [
            button("✏️ " + _("Change"), step.code, Action.GOTO, StepKind.SETTINGS_MENU),
            button("✅ " + _("Confirm"), step.code, Action.CONFIRM),
        ]
    if step.kind == StepKind.SETTINGS_MENU:
        return [button("✅ " + _("Done"), step.code, Action.DONE)]
    return []


def _selected(step: Step, reader: Reader) -> list[str]:
    country = reader.country(step.country) if step.country else None
    if step.kind == StepKind.OTHER_COUNTRIES:
        return list(reader.other_countries)
    if step.kind == StepKind.OTHER_LANGUAGES and country:
        return list(country.languages[1:])
    if step.kind == StepKind.OTHER_SOURCES and country:
        return list(country.sources[1:])
    if step.kind == StepKind.CATEGORIES:
        return list(reader.categories)
    if step.kind == StepKind.TIMES:
        return [str(m) for m in reader.delivery_minutes]
    return []


_View = tuple[str, str, list[list[InlineKeyboardButton]]]


def _toggles(
    step: Step, reader: Reader, catalog: Catalog, labels: dict[str, str], width: int
) -> list[list[InlineKeyboardButton]]:
    chosen = set(_selected(step, reader))
    buttons = [
        button(
            (CHECK if value in chosen else "") + labels.get(value, value),
            step.code,
            Action.TOGGLE,
            value,
        )
        for value in options(step, reader, catalog)
    ]
    return rows_of(buttons, width)


def _picks(
    step: Step, reader: Reader, catalog: Catalog, labels: dict[str, str], width: int
) -> list[list[InlineKeyboardButton]]:
    buttons = [
        button(labels.get(value, value), step.code, Action.PICK, value)
        for value in options(step, reader, catalog)
    ]
    return rows_of(buttons, width)


def _country_labels(reader: Reader, catalog: Catalog) -> dict[str, str]:
    return {c.code: country_label(c.code, reader, catalog) for c in catalog.countries}


def _primary_country(step: Step, reader: Reader, catalog: Catalog, _: Gettext) -> _View:
    body = _("Whose news do you want first? You can add more countries next.")
    return (
        _("Choose your primary country"),
        esc(body),
        _picks(step, reader, catalog, _country_labels(reader, catalog), 2),
    )


def _other_countries(step: Step, reader: Reader, catalog: Catalog, _: Gettext) -> _View:
    primary = country_label(reader.primary_country or "", reader, catalog)
    body = _("Primary: {country}. Add other countries if you like (optional).").format(
        country=primary
    )
    return (
        _("Other countries"),
        esc(body),
        _toggles(step, reader, catalog, _country_labels(reader, catalog), 2),
    )


def _language_step(step: Step, reader: Reader, catalog: Catalog, _: Gettext) -> _View:
    country = country_label(step.country or "", reader, catalog)
    title = _("Set news language for {country}").format(country=country)
    labels = {
        code: language_name(code, reader.ui_language) for code in options(step, reader, catalog)
    }
    if step.kind == StepKind.LANGUAGE:
        return (
            title,
            esc(_("Choose the primary language.")),
            _picks(step, reader, catalog, labels, 2),
        )
    choice = reader.country(step.country or "")
    primary = language_name(choice.primary_language or "", reader.ui_language) if choice else ""
    body = _("Primary: {language}. Add other languages (optional).").format(language=primary)
    return title, esc(body), _toggles(step, reader, catalog, labels, 2)


def _source_step(step: Step, reader: Reader, catalog: Catalog, _: Gettext) -> _View:
    country = country_label(step.country or "", reader, catalog)
    title = _("Set news source for {country}").format(country=country)
    labels = {sid: source_label(sid, catalog) for sid in options(step, reader, catalog)}
    if step.kind == StepKind.SOURCE:
        return (
            title,
            esc(_("Choose your primary source.")),
            _picks(step, reader, catalog, labels, 2),
        )
    choice = reader.country(step.country or "")
    primary = source_label(choice.primary_source or "", catalog) if choice else ""
    body = _("Primary: {source}. Add other sources (optional).").format(
        source=isolate(primary, reader.ui_language)
    )
    return title, esc(body), _toggles(step, reader, catalog, labels, 2)


def _categories(step: Step, reader: Reader, catalog: Catalog, _: Gettext) -> _View:
    labels = {c: category_label(c, _) for c in options(step, reader, catalog)}
    body = _("Which news do you want in your digests? Pick one or more.")
    return _("Categories"), esc(body), _toggles(step, reader, catalog, labels, 2)


def _times(step: Step, reader: Reader, catalog: Catalog, _: Gettext) -> _View:
    labels = {str(m): hhmm(m) for m in map(int, options(step, reader, catalog))}
    zone = isolate(reader.timezone or "UTC", reader.ui_language)
    body = _(
        "When should your digests arrive? Tap one or more times, or send a time like 06:45. "
        "Times are in your timezone ({zone})."
    ).format(zone=zone)
    return _("Delivery time"), esc(body), _toggles(step, reader, catalog, labels, 3)


def _timezone(step: Step, reader: Reader, catalog: Catalog, _: Gettext) -> _View:
    body = _(
        "Digests follow your local time. "
        "Pick your timezone, or send its name, like America/Toronto."
    )
    labels = {zone: zone.replace("_", " ") for zone in options(step, reader, catalog)}
    return _("Timezone"), esc(body), _picks(step, reader, catalog, labels, 2)


def _summary(step: Step, reader: Reader, catalog: Catalog, _: Gettext) -> _View:
    return _("Almost done: please check"), summary_html(reader, catalog), []


def _settings_menu(step: Step, reader: Reader, catalog: Catalog, _: Gettext) -> _View:
    def part(label: str, target: Step) -> InlineKeyboardButton:
        return button(label, step.code, Action.GOTO, target.code)

    buttons = [part("🌍 " + _("Countries"), Step(StepKind.COUNTRY))]
    for choice in reader.countries:
        name = country_label(choice.code, reader, catalog)
        languages = _("Languages · {country}").format(country=name)
        buttons.append(part("🗣 " + languages, Step(StepKind.LANGUAGE, choice.code)))
        sources = _("Sources · {country}").format(country=name)
        buttons.append(part("📰 " + sources, Step(StepKind.SOURCE, choice.code)))
    buttons.append(part("🗂 " + _("Categories"), Step(StepKind.CATEGORIES)))
    buttons.append(part("⏰ " + _("Delivery time"), Step(StepKind.TIMES)))
    buttons.append(part("🕰 " + _("Timezone"), Step(StepKind.TIMEZONE)))
    buttons.append(part("🌙 " + _("Quiet hours"), Step(StepKind.QUIET_HOURS)))
    buttons.append(part("🔢 " + _("Stories per digest"), Step(StepKind.DIGEST_SIZE)))
    buttons.append(part("📭 " + _("Empty digests"), Step(StepKind.EMPTY_DIGEST)))
    buttons.append(part("🌐 " + _("Language of the bot"), Step(StepKind.UI_LANGUAGE)))
    buttons.extend(mute_settings_buttons(_))
    body = summary_html(reader, catalog) + "\n\n" + esc(_("Tap a part to change it."))
    return _("Settings"), body, rows_of(buttons, 2)


def _quiet_hours(step: Step, reader: Reader, catalog: Catalog, _: Gettext) -> _View:
    labels = {QUIET_OFF: _("Off")}
    for code in options(step, reader, catalog):
        window = parse_quiet_code(code)
        if window:
            labels[code] = f"{hhmm(window[0])}–{hhmm(window[1])}"
    body = _(
        "No digests between two times: a digest that falls inside waits for the end. "
        "Pick a window, or send one like 22:30-06:45."
    )
    return _("Quiet hours"), esc(body), _picks(step, reader, catalog, labels, 2)


def _digest_size(step: Step, reader: Reader, catalog: Catalog, _: Gettext) -> _View:
    body = _("How many stories in each digest? Now: {count}.").format(
        count=isolate(str(reader.stories_per_digest), reader.ui_language)
    )
    return _("Stories per digest"), esc(body), _picks(step, reader, catalog, {}, 4)


def _empty_digests(step: Step, reader: Reader, catalog: Catalog, _: Gettext) -> _View:
    labels = {"skip": _("Skip it"), "say": _("Tell me")}
    current = labels.get(reader.empty_digest, reader.empty_digest)
    body = _("When a category has nothing new at digest time. Now: {choice}.").format(
        choice=current
    )
    return _("Empty digests"), esc(body), _picks(step, reader, catalog, labels, 2)


def _ui_language(step: Step, reader: Reader, catalog: Catalog, _: Gettext) -> _View:
    body = _(
        "The language of menus and messages. The news stays in the languages you chose "
        "for each country."
    )
    labels = {code: ENDONYMS.get(code, code) for code in options(step, reader, catalog)}
    labels[reader.ui_language] = CHECK + labels.get(reader.ui_language, reader.ui_language)
    return _("Language of the bot"), esc(body), _picks(step, reader, catalog, labels, 2)


_STEP_BUILDERS = {
    StepKind.COUNTRY: _primary_country,
    StepKind.OTHER_COUNTRIES: _other_countries,
    StepKind.LANGUAGE: _language_step,
    StepKind.OTHER_LANGUAGES: _language_step,
    StepKind.SOURCE: _source_step,
    StepKind.OTHER_SOURCES: _source_step,
    StepKind.CATEGORIES: _categories,
    StepKind.TIMES: _times,
    StepKind.TIMEZONE: _timezone,
    StepKind.SUMMARY: _summary,
    StepKind.SETTINGS_MENU: _settings_menu,
    StepKind.QUIET_HOURS: _quiet_hours,
    StepKind.DIGEST_SIZE: _digest_size,
    StepKind.EMPTY_DIGEST: _empty_digests,
    StepKind.UI_LANGUAGE: _ui_language,
}


def _joined_primary(names: list[str], _: Gettext, ui_language: str) -> str:
    if not names:
        return ""
    head = _("{name} (primary)").format(name=names[0])
    return joined([head, *names[1:]], ui_language)


def _ordered_categories(reader: Reader) -> list[str]:
    ranked = [*CATEGORIES, ALL_CATEGORIES]
    return sorted(reader.categories, key=lambda c: ranked.index(c) if c in ranked else len(ranked))
