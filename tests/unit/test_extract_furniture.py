"""#16: what trafilatura alone gets wrong on news pages, one small fixture page per failure.

Each page in tests/data/pages/ was written for these tests and fails on the extraction of
the commit before #16: a body shipped mostly in JSON-LD, a video player's caption, a consent
placeholder, a key-facts box, and a stale ``<meta charset>`` on a UTF-8 page.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.article_body import better_body, split_paragraphs
from digest.extract import ExtractedArticle, decode_html, extract_article
from digest.furniture import drop_lines

PAGES = Path(__file__).resolve().parents[1] / "data" / "pages"


def extract(name: str) -> ExtractedArticle:
    body = (PAGES / name).read_bytes()
    return extract_article(body, url="https://news.example.org/a", content_type="text/html")


def test_json_ld_article_body_completes_a_partial_html_body() -> None:
    article = extract("jsonld_body.html")
    text = article.text
    assert text.startswith("Sleeper trains will run again on the northern line from April")
    assert "a second route to the mountains could follow in 2027." in text
    assert "Travellers' groups welcomed" in text, "entities are decoded"
    assert "&#39;" not in text and "<" not in text
    assert len(article.paragraphs) >= 3, "a one-blob body is cut into paragraphs"
    assert "Load the rest of the article" not in text


def test_a_declared_body_that_does_not_overlap_is_ignored() -> None:
    extracted = ["The council approved the harbour budget on Monday after a long debate."] * 8
    other = [
        f"Sentence {n} about a completely different subject, a cooking contest." for n in range(60)
    ]
    assert better_body(extracted, [other], min_words=40) is None
    longer = [*extracted, *other]
    assert better_body(extracted, [longer], min_words=40) == tuple(longer)
    assert better_body(extracted, [extracted[:4]], min_words=40) is None, "never a shorter one"


def test_split_paragraphs_keeps_line_breaks_and_cuts_blobs_at_sentences() -> None:
    assert split_paragraphs("One line.\n\nTwo line.\n") == ("One line.", "Two line.")
    blob = " ".join(f"This is sentence number {n} of the blob." for n in range(60))
    parts = split_paragraphs(blob)
    assert len(parts) > 2 and all(part.endswith(".") for part in parts)
    assert " ".join(parts) == blob


def test_video_player_caption_and_repeated_headline_are_dropped() -> None:
    article = extract("video_caption.html")
    assert "02:57" not in article.text and "Verfügbar bis" not in article.text
    assert "Neue Fähre verbindet die Inseln im Winter" not in article.paragraphs
    assert len(article.paragraphs) == 4
    assert article.paragraphs[-1].endswith("sollen im ersten Jahr gleich bleiben.")


def test_consent_placeholder_is_dropped() -> None:
    article = extract("consent_placeholder.html")
    assert "One click" not in article.text and "external network" not in article.text
    assert len(article.paragraphs) == 4
    assert article.paragraphs[0].startswith("The central library reopened on Saturday")


def test_key_facts_box_is_dropped() -> None:
    article = extract("key_facts.html")
    assert "At a glance" not in article.text and "900 MW" not in article.text
    assert len(article.paragraphs) == 4
    assert article.paragraphs[-1].endswith("which the developer said it would study.")


def test_utf8_page_with_a_stale_legacy_meta_charset_reads_as_utf8() -> None:
    article = extract("stale_charset.html")
    assert article.title == "Zürcher Seebad öffnet früher"
    assert "Das Seebad am Zürichsee öffnet" in article.text
    assert "„Wir rechnen mit einem grossen Andrang“" in article.text
    assert "Ã" not in article.text


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        # UTF-8 bytes under a legacy meta: the bytes win.
        (b'<meta charset="gb2312"><p>\xe4\xb8\xad\xe6\x96\x87</p>', None, "中文"),
        (b'<meta charset="windows-1252"><p>caf\xc3\xa9</p>', None, "café"),
        # Real legacy bytes (not valid UTF-8) still follow the meta.
        (b'<meta charset="iso-8859-1"><p>caf\xe9</p>', None, "café"),
        (b'<meta charset="gb2312"><p>\xd6\xd0\xce\xc4</p>', None, "中文"),
        # A header charset is never second-guessed.
        (b"<p>caf\xc3\xa9</p>", "text/html; charset=windows-1252", "cafÃ©"),
    ],
)
def test_charset_prefers_valid_utf8_over_a_legacy_meta(
    body: bytes, content_type: str | None, expected: str
) -> None:
    assert expected in decode_html(body, content_type)


@pytest.mark.parametrize(
    ("line", "dropped"),
    [
        ("02:57 Min. Verfügbar bis 14.11.2027", True),
        ("1:02:03 min", True),
        ("4:14 p.m.", False),  # a live-blog entry's time heading
        ("Stand: 12.03.2024, 14:00 Uhr", True),
        ("Updated at 1:23 p.m. on 11/19/2019", True),
        ("The vote, held at 10:30 on 12 March 2024, passed easily after a short debate.", False),
        ("Photo: Jane Doe / Agency", True),
        ("© Harbour Images 2024", True),
        ("Photographers waited outside the court for hours before the verdict.", False),
        ("Wind farm approved off the east coast", True),  # the headline again
    ],
)
def test_furniture_lines(line: str, dropped: bool) -> None:
    kept = drop_lines(
        [line, "A paragraph of the story itself."], ["Wind farm approved off the east coast"]
    )
    assert (line not in kept) is dropped


def _sentences(label: str, count: int) -> str:
    return "".join(
        f"<p>{label} paragraph {n} tells how the harbour board met again on the question "
        f"of the new ferry pier and what the engineers said about tides and costs.</p>"
        for n in range(count)
    )


def test_a_body_split_by_an_ad_slot_is_joined() -> None:
    html = (
        "<html><head><title>Pier</title></head><body><main>"
        f'<div class="story-body">{_sentences("First", 5)}</div>'
        '<div class="ad-slot"><span>Advertisement</span></div>'
        f'<div class="story-body">{_sentences("Second", 4)}</div>'
        "</main><footer>Footer</footer></body></html>"
    )
    text = extract_article(html).text
    assert "First paragraph 4" in text and "Second paragraph 3" in text


def test_microdata_article_body_when_extraction_finds_only_a_notice() -> None:
    html = (
        "<html><head><title>Pier</title></head><body>"
        '<p class="notice">This copy is for your personal use only.</p>'
        '<div itemprop="articleBody"><figure><figcaption>Photo: the pier</figcaption></figure>'
        f"{_sentences('Declared', 6)}</div></body></html>"
    )
    declared_only = better_body(
        ["This copy is for your personal use only."],
        [[f"Declared paragraph {n} of the story, long enough to count." for n in range(9)]],
        min_words=40,
    )
    assert declared_only is not None and len(declared_only) == 9
    text = extract_article(html).text
    assert "Declared paragraph 5" in text and "Photo: the pier" not in text


def test_embedded_json_state_completes_a_partial_html_body() -> None:
    article = extract("json_state_body.html")
    assert len(article.paragraphs) == 6
    assert article.paragraphs[-1].startswith("Councillors who voted against said")
    assert "Loading" not in article.text and "<p>" not in article.text
