"""RelatedFinder against a real database (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from digest.related import EDIT_SCAN_EVERY, RelatedFinder, RelatedIndex, RelatedStory
from storage.articles import ArticleInput, ArticleStore

NOW = datetime(2026, 3, 12, 12, 0, tzinfo=UTC)
STORED = NOW - timedelta(minutes=30)

# key: (source, language, hours ago, cluster (a key of this table), title, summary)
STORIES: dict[str, tuple[str, str, float, str, str, str]] = {
    "seed": ("cbc", "en", 3, "seed", "Bank of Canada cuts key interest rate to 2.25%",
             "The central bank lowered its policy rate by a quarter point, citing weak hiring."),
    "ctv": ("ctv", "en", 2, "seed", "Bank of Canada lowers benchmark rate by 25 basis points",
            "Governor Tiff Macklem said the central bank is ready to act further."),
    "global": ("globalnews", "en", 1, "seed", "What the Bank of Canada rate cut means for you",
               "Variable-rate borrowers get relief after the central bank trimmed its key rate."),
    "global_old": ("globalnews", "en", 2.5, "seed", "Bank of Canada cuts its key rate",
                   "The central bank cut its policy interest rate to 2.25 per cent."),
    "cbc_live": ("cbc", "en", 2.8, "seed", "LIVE: Bank of Canada rate announcement",
                 "Follow the central bank's interest rate decision as it happens."),
    "french": ("radiocanada", "fr", 1.5, "seed", "La Banque du Canada abaisse son taux directeur",
               "La banque centrale réduit son taux d'un quart de point."),
    "fed": ("nyt", "en", 20, "fed", "Federal Reserve holds interest rates steady",
            "The U.S. central bank left its benchmark interest rate unchanged amid inflation."),
    "fed_cnn": ("cnn", "en", 19, "fed", "Fed keeps interest rates on hold as inflation lingers",
                "The U.S. central bank held its key rate steady for a second meeting."),
    "rbi": ("thehindu", "en", 30, "rbi", "RBI cuts repo rate by 25 basis points to 5%",
            "India's central bank lowered its key policy rate as inflation eased."),
    "ecb": ("bloomberg", "en", 40, "ecb", "ECB cuts interest rates for a third time",
            "The European Central Bank lowered its key deposit rate by a quarter point."),
    "boe": ("bloomberg", "en", 44, "boe", "Bank of England holds interest rates at 4%",
            "The central bank kept its key rate unchanged as inflation stays high."),
    "rba": ("bloomberg", "en", 50, "rba", "Reserve Bank of Australia cuts interest rates",
            "Australia's central bank lowered its cash rate by a quarter point."),
    "football": ("sportsnet", "en", 4, "football", "Arsenal beat Chelsea 2-1 to go top",
                 "Bukayo Saka scored the winner as the Gunners moved clear in the title race."),
    "ice": ("cbc", "en", 5, "ice", "Ice storm leaves 100,000 without power in Ottawa",
            "Freezing rain brought down lines across eastern Ontario overnight."),
    "leafs": ("cbc", "en", 6, "leafs", "Maple Leafs beat Canadiens 4-2",
              "Auston Matthews scored twice as Toronto beat Montreal."),
    "ttc": ("cbc", "en", 7, "ttc", "TTC fares frozen for another year",
            "Toronto council approved a budget that keeps transit fares at current levels."),
    "cbc_old": ("cbc", "en", 24 * 15, "cbc_old", "Bank of Canada holds key interest rate",
                "The central bank kept its policy rate unchanged, an old story."),
}  # fmt: skip
# Other news, so that words like "bank" and "rate" are as rare as in a real store (BM25 weighs
# a word by how few stories use it): one wire story per place and subject, each its own cluster.
PLACES = ("Ottawa", "Halifax", "Winnipeg", "Regina", "Victoria", "Quebec City")
SUBJECTS = (
    ("council approves new bike lanes downtown", "Cyclists welcomed the vote on safer streets."),
    ("hospital opens emergency wing", "The expansion adds forty beds and a trauma unit."),
    ("school board debates cellphone ban", "Parents and teachers disagree over classroom rules."),
    ("wildfire crews contain blaze near highway", "Evacuation orders for nearby homes lifted."),
)
for n, (place, (headline, text)) in enumerate((p, s) for p in PLACES for s in SUBJECTS):
    STORIES[f"wire{n}"] = ("wire", "en", 8 + n, f"wire{n}", f"{place} {headline}", text)


def item(key: str, title: str | None = None) -> ArticleInput:
    _, language, hours, _, default_title, summary = STORIES[key]
    return ArticleInput(
        entry_key=key,
        url=f"https://news.example/{key}",
        title=title or default_title,
        summary=summary,
        image_url=None,
        published_at=NOW - timedelta(hours=hours),
        language=language,
        categories=("business",),
    )


@pytest.fixture
def stored(engine: Engine) -> tuple[ArticleStore, dict[str, int]]:
    """The stories above, stored and clustered as ingest would: key -> article id."""
    store = ArticleStore(engine)
    by_source: dict[str, list[ArticleInput]] = {}
    for key, (source, *_) in STORIES.items():
        by_source.setdefault(source, []).append(item(key))
    ids: dict[str, int] = {}
    for source, items in by_source.items():
        for row in store.upsert(source, items, STORED).new:
            ids[row.url.rsplit("/", 1)[1]] = row.id
    store.set_clusters({ids[key]: ids[STORIES[key][3]] for key in STORIES})
    return store, ids


@pytest.fixture
def finder(stored: tuple[ArticleStore, dict[str, int]]) -> RelatedFinder:
    built = RelatedFinder(stored[0], RelatedIndex(), clock=lambda: NOW)
    built.refresh()
    return built


def keys(stories: list[RelatedStory] | None, ids: dict[str, int]) -> list[tuple[str, str]]:
    by_id = {article_id: key for key, article_id in ids.items()}
    assert stories is not None
    return [(by_id[s.article.id], s.reason) for s in stories]


def test_three_parts_in_order(
    finder: RelatedFinder, stored: tuple[ArticleStore, dict[str, int]]
) -> None:
    _, ids = stored
    listed = keys(finder.related(ids["seed"], {"en"}, NOW, limit=20), ids)
    reasons = [reason for _, reason in listed]
    assert reasons == sorted(reasons, key=["same_story", "similar", "same_source"].index)
    # Same story: other sources only, one per source (the newest), newest first.
    assert [k for k, r in listed if r == "same_story"] == ["global", "ctv"]
    # Similar: one per cluster (fed or fed_cnn), at most two from bloomberg, no football.
    similar = [k for k, r in listed if r == "similar"]
    assert "rbi" in similar
    assert len({"fed", "fed_cnn"} & set(similar)) == 1
    assert len({"ecb", "boe", "rba"} & set(similar)) == 2
    assert len(similar) == 4
    # Same source: the newest from cbc, not the seed's own cluster (cbc_live), not too old.
    assert [k for k, r in listed if r == "same_source"] == ["ice", "leafs", "ttc"]


def test_limit_never_itself_no_duplicates(
    finder: RelatedFinder, stored: tuple[ArticleStore, dict[str, int]]
) -> None:
    _, ids = stored
    for limit in (0, 1, 3, 8, 20):
        stories = finder.related(ids["seed"], {"en", "fr"}, NOW, limit=limit)
        assert stories is not None
        assert len(stories) == min(limit, 10)
        listed = [s.article.id for s in stories]
        assert ids["seed"] not in listed
        assert len(set(listed)) == len(listed)
        clusters = [s.article.cluster_id for s in stories if s.reason != "same_story"]
        assert len(set(clusters)) == len(clusters)
        assert ids["seed"] not in clusters  # the seed's cluster only as "same_story"
    eight = keys(finder.related(ids["seed"], {"en", "fr"}, NOW), ids)
    assert eight[:3] == [("global", "same_story"), ("french", "same_story"), ("ctv", "same_story")]
    assert len(eight) == 8 and eight[-1] == ("ice", "same_source")


def test_languages_and_retention(
    finder: RelatedFinder, stored: tuple[ArticleStore, dict[str, int]]
) -> None:
    _, ids = stored
    every = [k for k, _ in keys(finder.related(ids["seed"], {"en", "fr"}, NOW, limit=50), ids)]
    assert "french" in every and "cbc_old" not in every and "football" not in every
    assert keys(finder.related(ids["seed"], {"fr"}, NOW), ids) == [("french", "same_story")]
    assert finder.related(ids["seed"], set(), NOW) == []
    # With a 42-hour retention, the older rate stories (44 and 50 hours) are never listed.
    short = RelatedFinder(stored[0], finder.index, retention=timedelta(hours=42))
    near = [k for k, _ in keys(short.related(ids["seed"], {"en"}, NOW), ids)]
    assert "ecb" in near and "boe" not in near and "rba" not in near


def test_unknown_or_expired_story_is_none(
    finder: RelatedFinder, stored: tuple[ArticleStore, dict[str, int]]
) -> None:
    _, ids = stored
    assert finder.related(max(ids.values()) + 1000, {"en"}, NOW) is None
    assert finder.related(ids["cbc_old"], {"en"}, NOW) is None
    assert finder.related(ids["seed"], {"en"}, NOW + timedelta(days=15)) is None


def reasons(finder: RelatedFinder, seed: int, now: datetime) -> dict[int, str]:
    listed = finder.related(seed, {"en"}, now, limit=20)
    assert listed is not None
    return {s.article.id: s.reason for s in listed}


def test_refresh_adds_new_stories_at_once(
    finder: RelatedFinder, stored: tuple[ArticleStore, dict[str, int]]
) -> None:
    store, ids = stored
    assert len(finder.index) == len(STORIES) - 1  # all but cbc_old
    assert finder.refresh() == 0
    new = ArticleInput(
        "boc-analysis", "https://news.example/analysis", "Bank of Canada interest rate cut: "
        "what economists expect next", "Economists see the central bank cutting its key rate "
        "again in April.", None, NOW - timedelta(minutes=5), "en", ("business",),
    )  # fmt: skip
    new_id = store.upsert("financialpost", [new], NOW).new[0].id
    assert finder.refresh() == 1  # the same instant: nothing throttles new stories
    assert reasons(finder, ids["seed"], NOW)[new_id] == "similar"
    assert finder.refresh() == 0


def test_refresh_finds_edited_titles_on_its_next_scan(
    finder: RelatedFinder, stored: tuple[ArticleStore, dict[str, int]]
) -> None:
    store, ids = stored
    soon, later = NOW + timedelta(minutes=5), NOW + EDIT_SCAN_EVERY
    edited = item("leafs", "Bank of Canada rate cut: Maple Leafs fans react")
    assert store.upsert("cbc", [edited], soon).updated == 1
    assert finder.refresh(soon) == 0
    assert reasons(finder, ids["seed"], soon)[ids["leafs"]] == "same_source"  # not yet
    assert finder.refresh(later) == 0  # an edit adds nothing, it replaces
    assert reasons(finder, ids["seed"], later)[ids["leafs"]] == "similar"


def test_refresh_forgets_what_falls_out_of_the_window(
    finder: RelatedFinder, stored: tuple[ArticleStore, dict[str, int]]
) -> None:
    _, ids = stored
    before = len(finder.index)
    gone = [key for key, story in STORIES.items() if story[2] > 25 and key != "cbc_old"]
    assert finder.refresh(NOW + timedelta(days=14) - timedelta(hours=25)) == 0
    assert len(finder.index) == before - len(gone)
    assert {"rbi", "ecb", "boe", "rba"} <= set(gone)


def test_same_source_looks_past_a_live_blog_in_the_story_cluster(engine: Engine) -> None:
    store = ArticleStore(engine)
    seed = ArticleInput("seed", "https://news.example/seed", "Budget day in Ottawa",
                        "The finance minister tables the federal budget.", None,
                        NOW - timedelta(hours=6), "en", ("national",))  # fmt: skip
    live = [
        ArticleInput(f"live{n}", f"https://news.example/live{n}", f"Budget live update {n}",
                     "", None, NOW - timedelta(hours=5 - n / 2), "en", ("national",))
        for n in range(6)
    ]  # fmt: skip
    others = [
        ArticleInput(f"other{n}", f"https://news.example/other{n}", title, "", None,
                     NOW - timedelta(hours=7 + n), "en", ("national",))
        for n, title in enumerate(("Ice storm in Ottawa", "Leafs win", "TTC fares frozen"))
    ]  # fmt: skip
    rows = store.upsert("cbc", [seed, *live, *others], STORED).new
    store.set_clusters({row.id: rows[0].id for row in rows[: 1 + len(live)]})
    finder = RelatedFinder(store, RelatedIndex())
    finder.refresh(NOW)
    stories = finder.related(rows[0].id, {"en"}, NOW, limit=3)
    assert stories is not None
    assert [(s.article.title, s.reason) for s in stories] == [
        ("Ice storm in Ottawa", "same_source"),
        ("Leafs win", "same_source"),
        ("TTC fares frozen", "same_source"),
    ]


def test_texts_since_reads_the_index_fields_in_id_order_and_the_edits(
    stored: tuple[ArticleStore, dict[str, int]],
) -> None:
    store, ids = stored
    cutoff = NOW - timedelta(days=14)
    texts = store.texts_since(cutoff, limit=5)
    assert [t.id for t in texts] == sorted(t.id for t in texts)
    rows = store.get_many(t.id for t in texts)
    assert [(t.title, t.summary, t.language, t.published_at) for t in texts] == [
        (rows[t.id].title, rows[t.id].summary, rows[t.id].language, rows[t.id].published_at)
        for t in texts
    ]
    rest = store.texts_since(cutoff, after_id=texts[-1].id)
    assert ids["cbc_old"] not in {t.id for t in texts + rest}  # past the window
    assert len(texts + rest) == len(store.since(cutoff, limit=1000))
    edited = item("ttc", "TTC fares frozen again")
    store.upsert("cbc", [edited], NOW + timedelta(minutes=1))
    changed = store.texts_since(cutoff, edited_since=NOW)
    assert [(t.id, t.title) for t in changed] == [(ids["ttc"], "TTC fares frozen again")]


def test_a_read_shares_the_row_still_held_until_the_article_changes(
    stored: tuple[ArticleStore, dict[str, int]],
) -> None:
    store, ids = stored
    held = store.get(ids["ice"])
    assert held is not None
    since = NOW - timedelta(days=3)
    latest = {row.id: row for row in store.latest(["cbc"], ["en"], since)}
    assert latest[ids["ice"]] is held  # one object for every holder, not a copy each
    store.upsert("cbc", [item("ice", "Ice storm: power back for most of Ottawa")], NOW)
    fresh = store.get(ids["ice"])
    assert fresh is not None and fresh is not held
    assert (fresh.title, held.title) == (
        "Ice storm: power back for most of Ottawa",
        STORIES["ice"][4],
    )
