"""RelatedIndex: BM25 over hand-written stories in several languages, no database."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from digest import related_index as related
from digest.related_index import RelatedIndex, token_key
from storage.articles import ArticleRow

T0 = datetime(2026, 3, 12, 12, 0, tzinfo=UTC)


def story(
    article_id: int, language: str, title: str, summary: str = "", hours_ago: float = 0.0
) -> ArticleRow:
    published = T0 - timedelta(hours=hours_ago)
    return ArticleRow(
        id=article_id,
        source_id=f"src{article_id}",
        url=f"https://news.example/{article_id}",
        title=title,
        summary=summary,
        image_url=None,
        language=language,
        published_at=published,
        first_seen_at=published,
        cluster_id=None,
        categories=(),
    )


BOC = story(1, "en", "Bank of Canada cuts key interest rate to 2.25%",
            "The central bank lowered its policy rate by a quarter point, citing weak hiring "
            "and the drag from U.S. tariffs.")  # fmt: skip
EN = [
    BOC,
    story(2, "en", "Federal Reserve holds interest rates steady, signals patience on cuts",
          "The U.S. central bank left its benchmark rate unchanged as officials weigh sticky "
          "inflation.",
          hours_ago=20),
    story(3, "en", "RBI cuts repo rate by 25 basis points to 5%",
          "The Reserve Bank of India's monetary policy committee lowered the policy rate as "
          "inflation stays below target.", hours_ago=30),
    story(4, "en", "What the Bank of Canada's rate cut means for your mortgage",
          "Variable-rate borrowers will see some relief after the central bank trimmed its key "
          "rate.", hours_ago=2),
    story(5, "en", "Arsenal beat Chelsea 2-1 to go top of the Premier League",
          "Bukayo Saka scored the winner in the 80th minute at the Emirates as the Gunners "
          "moved three points clear in the title race.", hours_ago=5),
    story(6, "en", "Liverpool held to a draw by Everton as Premier League title race tightens",
          "Mohamed Salah missed a penalty in a goalless draw at Anfield, leaving Liverpool two "
          "points behind leaders Arsenal.", hours_ago=8),
    story(7, "en", "Ice storm leaves 100,000 without power in eastern Ontario",
          "Freezing rain brought down lines from Ottawa to Kingston overnight.", hours_ago=3),
    story(8, "en", "Toronto police arrest suspect in downtown shooting",
          "A 24-year-old man was taken into custody after one person was injured.",
          hours_ago=6),
    story(9, "fr", "La Banque du Canada abaisse son taux directeur à 2,25 %",
          "La banque centrale réduit son taux d'un quart de point en raison des tarifs.",
          hours_ago=1),
]  # fmt: skip
ZH = [
    story(20, "zh", "美联储维持利率不变 称需更多通胀数据",
          "美联储将联邦基金利率目标区间维持在3.5%至3.75%，连续第二次会议按兵不动。"),
    story(21, "zh", "美联储主席：通胀回落前不急于降息",
          "美联储主席表示，在通胀进一步回落之前，美联储不急于下调利率。", hours_ago=30),
    story(22, "zh", "孙颖莎4比2击败王曼昱 夺得女单冠军",
          "这是孙颖莎本赛季第三个单打冠军。", hours_ago=4),
    story(23, "zh", "上海地铁两条新线今日开通运营",
          "新开通的线路全长约50公里，设站30座，将缓解浦东地区出行压力。", hours_ago=6),
]  # fmt: skip
AR = [
    story(40, "ar", "استئناف مفاوضات وقف إطلاق النار في غزة بالقاهرة",
          "وصل وفدا حماس وإسرائيل إلى القاهرة لبحث المرحلة الثانية من الاتفاق."),
    story(41, "ar", "الوسطاء يستأنفون محادثات المرحلة الثانية من اتفاق غزه",
          "تشارك قطر ومصر في الجهود الرامية إلى تثبيت وقف اطلاق النار في القطاع.",
          hours_ago=26),
    story(42, "ar", "السد يفوز على الهلال 2-1 في دوري أبطال آسيا",
          "سجل أكرم عفيف هدف الفوز في الدقيقة 78 على ملعب جاسم بن حمد.", hours_ago=3),
    story(43, "ar", "أسعار النفط ترتفع بعد تراجع المخزونات الأميركية",
          "صعد خام برنت إلى 68 دولارا للبرميل.", hours_ago=5),
]  # fmt: skip


@pytest.fixture
def index() -> RelatedIndex:
    built = RelatedIndex()
    built.add(EN + ZH + AR)
    return built


def ids(hits: list[tuple[int, float]]) -> list[int]:
    return [article_id for article_id, _ in hits]


def test_a_rate_decision_finds_the_other_rate_stories_not_the_football(
    index: RelatedIndex,
) -> None:
    found = ids(index.similar(BOC, {"en"}, 10))
    assert set(found) == {2, 3, 4}
    assert found[0] == 4  # the same story's other telling scores highest


def test_scores_are_best_first_and_never_the_story_itself(index: RelatedIndex) -> None:
    hits = index.similar(BOC, {"en", "fr"}, 10)
    assert BOC.id not in ids(hits)
    assert [score for _, score in hits] == sorted((s for _, s in hits), reverse=True)
    assert all(0 < score <= 1.5 for _, score in hits)


def test_football_finds_football(index: RelatedIndex) -> None:
    assert ids(index.similar(EN[4], {"en"}, 10)) == [6]


def test_unrelated_story_gets_nothing(index: RelatedIndex) -> None:
    assert index.similar(EN[6], {"en"}, 10) == []  # the ice storm


def test_chinese_by_bigrams(index: RelatedIndex) -> None:
    assert ids(index.similar(ZH[0], {"zh"}, 10)) == [21]
    assert ids(index.similar(ZH[2], {"zh"}, 10)) == []


def test_arabic_after_normalisation(index: RelatedIndex) -> None:
    # غزة/غزه, إطلاق/اطلاق and the article prefixes meet after textsig's folding.
    assert ids(index.similar(AR[0], {"ar"}, 10)) == [41]
    assert ids(index.similar(AR[2], {"ar"}, 10)) == []


def test_only_the_story_language_and_only_if_the_reader_reads_it(index: RelatedIndex) -> None:
    assert index.similar(BOC, {"fr"}, 10) == []
    assert 9 not in ids(index.similar(BOC, {"en", "fr"}, 10))  # no BM25 across languages
    assert index.similar(EN[8], {"fr"}, 10) == []  # alone in French


def test_limit_and_exclude(index: RelatedIndex) -> None:
    assert len(index.similar(BOC, {"en"}, 2)) == 2
    assert index.similar(BOC, {"en"}, 0) == []
    assert set(ids(index.similar(BOC, {"en"}, 10, exclude=[4, 2]))) == {3}


def test_one_shared_token_is_not_a_subject() -> None:
    index = RelatedIndex(min_score=0.0)
    index.add([story(1, "en", "Macklem speaks"), story(2, "en", "Macklem retires early")])
    assert index.similar(story(1, "en", "Macklem speaks"), {"en"}, 5) == []


def test_recent_stories_rank_above_older_equal_ones() -> None:
    twins = [
        story(1, "en", "Hydro One restores power after ice storm", hours_ago=0),
        story(2, "en", "Hydro One restores power after ice storm", hours_ago=24 * 6),
        story(3, "en", "Hydro One restores power after ice storm", hours_ago=24),
    ]
    index = RelatedIndex()
    index.add(twins)
    hits = index.similar(twins[0], {"en"}, 5)
    assert ids(hits) == [3, 2]
    assert hits[1][1] == pytest.approx(hits[0][1] / 2 ** (5 / 3), rel=1e-3)


def test_adding_again_is_idempotent_and_an_edited_title_replaces_the_old(
    index: RelatedIndex,
) -> None:
    before = index.similar(BOC, {"en"}, 10)
    index.add(EN)
    assert index.similar(BOC, {"en"}, 10) == before
    assert len(index) == len(EN + ZH + AR)

    edited = replace(EN[4], title="Bank of Canada rate cut: what economists expect next",
                     summary="Economists see the central bank cutting its key interest rate "
                     "again.")  # fmt: skip
    index.add([edited])
    assert len(index) == len(EN + ZH + AR)
    assert edited.id in ids(index.similar(BOC, {"en"}, 10))
    assert edited.id not in ids(index.similar(EN[5], {"en"}, 10))  # no longer football


def test_remove_older_than(index: RelatedIndex) -> None:
    removed = index.remove_older_than(T0 - timedelta(hours=24))  # 3, 21 and 41 are older
    assert removed == 3
    assert len(index) == len(EN + ZH + AR) - 3
    assert set(ids(index.similar(BOC, {"en"}, 10))) == {2, 4}
    assert index.similar(ZH[0], {"zh"}, 10) == []
    assert index.remove_older_than(T0 - timedelta(hours=24)) == 0


def test_compaction_keeps_results(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(related, "_COMPACT_SHARE", 0.0)  # compact on every removal
    index = RelatedIndex()
    old = [story(100 + i, "en", f"Filler story number {i} about gardens", hours_ago=100)
           for i in range(20)]  # fmt: skip
    index.add(old + EN)
    expected = index.similar(BOC, {"en"}, 10)
    assert index.remove_older_than(T0 - timedelta(hours=50)) == 20
    shard = index._shards["en"]
    assert (shard.dead, len(shard.ids)) == (0, len(EN) - 1)  # compacted: the fillers are gone
    assert ids(index.similar(BOC, {"en"}, 10)) == ids(expected)
    index.add([replace(EN[1], title="Federal Reserve cuts interest rate")])
    assert 2 in ids(index.similar(BOC, {"en"}, 10))


def test_max_age_skips_stories_too_old_to_list() -> None:
    index = RelatedIndex(max_age=timedelta(days=2))
    index.add([story(1, "en", "Ice storm hits Ottawa"), story(2, "en", "Ice storm hits Ottawa",
                                                                hours_ago=24 * 3)])  # fmt: skip
    assert len(index) == 1


def test_a_token_of_one_story_is_one_int_until_another_story_shares_it() -> None:
    index = RelatedIndex()
    index.add([story(1, "en", "Zorblatt wins the Quixby prize for physics")])
    postings = index._shards["en"].postings
    assert isinstance(postings[token_key("zorblat")], int)  # not a 64-byte array for one posting
    index.add([story(2, "en", "Zorblatt and the Quixby prize: a profile", hours_ago=1)])
    assert not isinstance(postings[token_key("zorblat")], int)
    assert ids(index.similar(story(1, "en", "Zorblatt wins the Quixby prize"), {"en"}, 5)) == [2]


def test_ids_arriving_out_of_order_are_found_replaced_and_pruned() -> None:
    index = RelatedIndex()
    index.add([story(30, "en", "Ice storm hits Ottawa again", hours_ago=1)])
    index.add([story(10, "en", "Ice storm hits Ottawa", hours_ago=30)])  # an older id, later
    index.add([story(20, "fr", "Tempête de verglas à Ottawa", hours_ago=2)])
    assert len(index) == 3
    index.add([story(10, "en", "Ice storm hits Ottawa", hours_ago=30)])  # same text: skipped
    assert len(index) == 3 and index._shards["en"].dead == 0
    index.add([story(10, "en", "Ice storm: Ottawa hit again", hours_ago=30)])  # edited
    assert len(index) == 3 and index._shards["en"].dead == 1
    assert ids(index.similar(story(30, "en", "Ice storm hits Ottawa again"), {"en"}, 5)) == [10]
    assert index.remove_older_than(T0 - timedelta(hours=24)) == 1
    assert len(index) == 2
    assert index.similar(story(30, "en", "Ice storm hits Ottawa again"), {"en"}, 5) == []
    assert ids(index.similar(story(99, "fr", "Tempête de verglas à Ottawa"), {"fr"}, 5)) == [20]


def test_compaction_turns_a_token_left_to_one_story_back_into_an_int(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(related, "_COMPACT_SHARE", 0.0)
    index = RelatedIndex()
    index.add([story(1, "en", "Zorblatt opens a bakery", hours_ago=100),
               story(2, "en", "Zorblatt bakery draws crowds"),
               story(3, "en", "Zorblatt bakery queue")])  # fmt: skip
    assert index.remove_older_than(T0 - timedelta(hours=50)) == 1
    shard = index._shards["en"]
    assert shard.dead == 0 and not isinstance(shard.postings[token_key("zorblat")], int)
    assert ids(index.similar(story(2, "en", "Zorblatt bakery draws crowds"), {"en"}, 5)) == [3]
    index.add([story(3, "en", "Quixby opens a second shop")])  # edited: its old slot dies
    assert index.remove_older_than(T0 - timedelta(hours=50)) == 0  # compacts the dead slot
    assert isinstance(shard.postings[token_key("zorblat")], int)
    assert index.similar(story(2, "en", "Zorblatt bakery draws crowds"), {"en"}, 5) == []


def test_postings_are_four_bytes_until_slots_outgrow_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """A posting is one 4-byte int while a language has under 2**20 slots; past that its
    arrays widen to 8 bytes (and compaction narrows them again), with the same answers."""
    narrow = RelatedIndex()
    narrow.add(EN[:3])
    narrow.add(EN[3:])
    expected = narrow.similar(BOC, {"en"}, 10)
    assert expected
    monkeypatch.setattr(related, "_NARROW_SLOTS", 4)
    monkeypatch.setattr(related, "_COMPACT_SHARE", 0.0)
    index = RelatedIndex()
    index.add(EN[:3])
    shard = index._shards["en"]
    assert shard.typecode == "I"
    index.add(EN[3:])
    assert len(shard.ids) > 4 and shard.typecode == "Q"
    assert {p.typecode for p in shard.postings.values() if not isinstance(p, int)} == {"Q"}
    assert index.similar(BOC, {"en"}, 10) == expected
    fillers = [story(100 + i, "en", f"Filler story {i} about gardens", hours_ago=100)
               for i in range(3)]  # fmt: skip
    index.add(fillers)
    assert index.remove_older_than(T0 - timedelta(hours=50)) == 3
    assert (shard.typecode == "I") == (len(shard.ids) <= 4)
    assert index.similar(BOC, {"en"}, 10) == expected
