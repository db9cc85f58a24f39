"""Reading prose and corrections: what a sentence offers for each field, nothing stored."""

from __future__ import annotations

import pytest

from core.cards.hf_tasks import modality_keys
from core.conversation.interpret import correction_of, is_agreement
from core.conversation.prose import read_prose

PROSE = [
    ("Hi! My dataset is called Coral Reef Images and you can find it at "
     "http://example.org/coral",
     {"name": "Coral Reef Images", "location": "http://example.org/coral"}),
    ("Coral Reef Images, https://example.org/coral",
     {"name": "Coral Reef Images", "location": "https://example.org/coral"}),
    ('Hello team, we have a dataset named "Atlantic Buoys" (ocean sensor data), hosted at '
     "huggingface.co/datasets/lab/buoys. We will keep hosting it ourselves.",
     {"name": "Atlantic Buoys", "location": "huggingface.co/datasets/lab/buoys",
      "hosting": "self", "domain": "Marine", "modalities": "Other (e.g., science data)"}),
    ("Hi, I'm Ada from the Ocean Lab. We'd like to contribute our dataset Ocean Temps "
     "(https://hf.co/datasets/ocean/temps). It's text and time series, marine domain. You "
     "can reach me at ada@ocean.org. We host it ourselves.",
     {"name": "Ocean Temps", "location": "https://hf.co/datasets/ocean/temps",
      "hosting": "self", "modalities": "Text Only, Other (e.g., science data)",
      "domain": "Marine", "email": "ada@ocean.org"}),
    ("Legal texts and time series; the domain is Legal",
     {"modalities": "Text Only, Other (e.g., science data)", "domain": "Legal"}),
    ("I have photos and audio recordings of whales, please host it",
     {"hosting": "alliance", "modalities": "Images, Audio"}),
    ("Our dataset \u201cLegal Contracts EN\u201d is legal text, contact me at ana@law.example.com",
     {"name": "Legal Contracts EN", "modalities": "Text Only", "domain": "Legal",
      "email": "ana@law.example.com"}),
    ("the card is at https://huggingface.co/datasets/a/b/raw/main/README.md",
     {"card": "https://huggingface.co/datasets/a/b/raw/main/README.md"}),
    ("Here: <https://example.org/slack|example.org/slack>, mail me at <mailto:sam@"
     "example.org|sam@example.org>",
     {"location": "https://example.org/slack", "email": "sam@example.org"}),
    ("It's titled Glacier Melt 2024. Weather station data, you can host it.",
     {"name": "Glacier Melt 2024", "hosting": "alliance"}),
    ("Hey, https://example.org/x", {"location": "https://example.org/x"}),
    ("Sure, here it is: https://example.org/d", {"location": "https://example.org/d"}),
    ("Ocean Temperatures", {"domain": "Marine"}),  # read only when not a plain answer
    ("hello, I have a dataset", {}),
    ("We'd rather keep it on our own servers; it is medical imaging.",
     {"hosting": "self", "modalities": "Images", "domain": "Healthcare"}),
]


@pytest.mark.parametrize(("text", "expected"), PROSE)
def test_prose_candidates(text: str, expected: dict[str, str]) -> None:
    assert read_prose(text).found() == expected


def test_words_inside_the_name_and_the_link_are_not_read_again() -> None:
    found = read_prose("It's named Audio Books for Kids, at https://example.org/video-archive")
    assert found.found() == {"name": "Audio Books for Kids",
                             "location": "https://example.org/video-archive"}


CORRECTIONS = [
    ("Actually no - change the domain to Marine", ("domain", "Marine")),
    ("wait, the name is wrong, it should just be Coral Reefs", ("name", "Coral Reefs")),
    ("oh right, it's dana@example.org", (None, "dana@example.org")),
    ("oops sorry, https://example.org/coral", (None, "https://example.org/coral")),
    ("no, it's https://huggingface.co/datasets/lab/coral",
     (None, "https://huggingface.co/datasets/lab/coral")),
    ("I meant Marine", (None, "Marine")),
    ("make the name Coral Reefs", ("name", "Coral Reefs")),
    ("set the e-mail to dana@example.org", ("email", "dana@example.org")),
    ("the domain should be Legal", ("domain", "Legal")),
    ("Sorry, the url is https://example.org/right", ("location", "https://example.org/right")),
    ("wait, the name is wrong", ("name", None)),
    ("Hold on, the e-mail is wrong, it's sam@example.org", ("email", "sam@example.org")),
    ("change the name please", ("name", None)),
]


@pytest.mark.parametrize(("text", "expected"), CORRECTIONS)
def test_corrections(text: str, expected: tuple[str | None, str | None]) -> None:
    found = correction_of(text)
    assert found is not None
    assert (found.field, found.value) == expected


@pytest.mark.parametrize("text", ["no", "no, we keep our own", "no thanks", "Ocean Temperatures",
                                  "the card is attached", "yes", "so", "name: X\nurl: Y",
                                  "my bad, modalities: text and images"])
def test_answers_are_not_corrections(text: str) -> None:
    assert correction_of(text) is None


@pytest.mark.parametrize(("text", "agrees"), [
    ("I agree", True), ("yes, I agree to the terms", True), ("We accept the terms", True),
    ("agreed", True), ("I agree with the reviewers", False), ("terms: sure", False)])
def test_an_agreement_is_recognised_alone(text: str, agrees: bool) -> None:
    assert is_agreement(text) is agrees


def test_card_tasks_and_tags_suggest_modalities() -> None:
    assert modality_keys(["image-to-text", "automatic-speech-recognition"], []) == [
        "images", "text", "audio"]
    assert modality_keys(["zero-shot-image-classification"], ["modality:video", "x"]) == [
        "images", "video"]
    assert modality_keys(["time-series-forecasting"], []) == ["other"]
    assert modality_keys([], ["language:en"]) == []
