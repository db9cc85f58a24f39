"""Transcripts of people writing as people do: prose, corrections, the card's own words,
an early "I agree", cancel and undo. Through the real service and database (the chat
channel); the same core answers Slack and e-mail (tests/bot, tests/mail)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.conversation import Answers, DomainAnswer, Phase
from core.render import Renderer
from tests.core.transcript import Transcript, make_service

CARD = (Path(__file__).parent.parent / "data" / "ocean_card.md").read_bytes()
BROKEN_CARD = b"# Just a title\n\nNo front matter at all.\n"


@pytest.fixture
def chat(db) -> Transcript:
    return Transcript(make_service(db))


async def answers(chat: Transcript) -> Answers:
    return (await chat.state()).answers


async def test_a_prose_introduction_is_shown_back_in_one_question(chat: Transcript) -> None:
    answer = await chat.say("Hi! My dataset is called Coral Reef Images and you can find it "
                            "at http://example.org/coral")
    assert "I understood: name Coral Reef Images, location https://example.org/coral. " \
           "Right?" in answer
    assert "https://" in answer and "secure" in answer  # the http -> https suggestion
    assert await answers(chat) == Answers()  # nothing stored before the yes
    answer = await chat.say("yes")
    assert "Dataset name: Coral Reef Images" in answer
    assert "Dataset location: https://example.org/coral" in answer
    assert "host the dataset" in answer  # the next question
    assert (await answers(chat)).name == "Coral Reef Images"


@pytest.mark.parametrize("said", [
    "hi there! I want to share a dataset about coral reefs",
    "I'd like to contribute a dataset to OTDI",
    "We have a dataset we would like to offer",
])
async def test_saying_why_they_came_is_not_the_name(chat: Transcript, said: str) -> None:
    await chat.say("hello")  # the name question is on screen
    answer = await chat.say(said)
    assert "Glad to hear it" in answer and "name of the dataset" in answer
    assert (await answers(chat)).name is None
    answer = await chat.say("Reef Watch 2024")
    assert "Dataset name: Reef Watch 2024" in answer


async def test_a_sentence_that_names_the_dataset_is_still_read(chat: Transcript) -> None:
    await chat.say("hello")
    answer = await chat.say("Hello, I have a new dataset called Reef Watch")
    assert "I understood: name Reef Watch. Right?" in answer


async def test_labels_on_one_line_without_commas(chat: Transcript) -> None:
    """Typed in one chat line or Slack message: each label starts its own answer."""
    answer = await chat.say("name: Buoy Logs url: https://example.org/buoys hosting: no")
    assert "Dataset name: Buoy Logs\n" in answer
    assert "Dataset location: https://example.org/buoys" in answer
    state = await chat.state()
    assert (state.answers.name, state.answers.hosting) == ("Buoy Logs", "self")


async def test_undoing_a_change_goes_on_with_the_next_question(chat: Transcript) -> None:
    """'change the name', a new name, then 'undo': the old name is back and the next
    missing question is asked, so a later 'submit' is never taken as the name."""
    await chat.say("name: Tide Gauges, url: https://example.org/tides, hosting: yes")
    await chat.say("change the name")
    await chat.say("Tide Gauges 2025")
    answer = await chat.say("undo")
    assert "Undone" in answer and "Dataset name: Tide Gauges" in answer
    assert "name of the dataset" not in answer and "dataset card" in answer
    assert (await chat.state()).asking == "card"
    await chat.say("submit")
    assert (await answers(chat)).name == "Tide Gauges"


async def test_a_question_is_answered_not_taken_for_the_answer(chat: Transcript) -> None:
    await chat.say("name: Tide Gauges, url: https://example.org/tides, hosting: yes")
    await chat.upload("README.md", CARD)
    answer = await chat.say("what are the terms?")
    assert "contribution terms you will be asked to agree to" in answer
    assert "CDLA-Permissive-2.0" in answer and "modalities" in answer  # question stays
    answer = await chat.say("How long does the review take?")
    assert "reviewers answer questions like that" in answer
    state = await chat.state()
    assert state.answers.modalities is None and state.answers.consent is None
    assert state.asking == "modalities"


async def test_another_sentence_adds_to_what_was_understood(chat: Transcript) -> None:
    """While "Right?" is open, a sentence about other fields joins it (nothing is lost),
    and a yes in German keeps all of it."""
    answer = await chat.say('Hallo! Mein Datensatz heißt "Wetterdaten Bayern" und liegt '
                            "unter https://example.org/wetter.")
    assert "name Wetterdaten Bayern, location https://example.org/wetter. Right?" in answer
    answer = await chat.say("text")
    assert "modalities Text Only. Right?" in answer and "Wetterdaten Bayern" in answer
    await chat.say("ja")
    state = await chat.state()
    assert (state.answers.name, state.answers.location, state.answers.modalities) == (
        "Wetterdaten Bayern", "https://example.org/wetter", ["Text Only"])
    await chat.say("nein")
    assert (await answers(chat)).hosting == "self"


async def test_name_comma_link_at_the_name_question(chat: Transcript) -> None:
    await chat.say("hello")
    answer = await chat.say("Coral Reef Images, https://example.org/coral")
    assert "I understood: name Coral Reef Images, location https://example.org/coral" in answer
    answer = await chat.say("no")
    assert "did not keep any of it" in answer and "name of the dataset" in answer
    assert await answers(chat) == Answers()


async def test_one_part_of_what_was_understood_is_corrected(chat: Transcript) -> None:
    await chat.say("We have a dataset named \u201cReef Photos\u201d at https://example.org/reef")
    answer = await chat.say("no, the name is Coral Reef Photos 2024")
    assert "Dataset name: Coral Reef Photos 2024" in answer
    assert "I understood: location https://example.org/reef. Right?" in answer
    answer = await chat.say("right")
    assert "Dataset location: https://example.org/reef" in answer
    assert (await answers(chat)).name == "Coral Reef Photos 2024"


async def test_words_in_a_sentence_are_candidates_too(chat: Transcript) -> None:
    await chat.say("name: Whale Song, url: https://example.org/whales")
    answer = await chat.say("It's recordings and photos of whales in the ocean, please host it")
    assert "I understood: hosting Yes, the AI Alliance hosts it, modalities Images, Audio, " \
           "domain Marine. Right?" in answer
    answer = await chat.say("yep")
    assert "Modalities: Images, Audio" in answer and "Domain: Marine" in answer
    assert (await answers(chat)).hosting == "alliance"


async def test_a_plain_answer_with_a_modality_word_stays_a_name(chat: Transcript) -> None:
    await chat.say("hello")
    answer = await chat.say("Coral Reef Images")
    assert "Dataset name: Coral Reef Images" in answer and "I understood" not in answer


# -- the corrections of the issue, reproduced -------------------------------------------

async def test_actually_no_change_the_domain_to_marine(chat: Transcript) -> None:
    await chat.say("name: X, url: https://example.org/x, hosting: no, modalities: text")
    await chat.upload("README.md", CARD)
    answer = await chat.say("Actually no - change the domain to Marine")
    assert "Domain: Marine" in answer and "your suggestion" not in answer
    assert (await answers(chat)).domain == DomainAnswer(value="Marine", is_suggestion=False)


@pytest.mark.parametrize("correction", [
    "Sorry, the domain should be Climate, not Marine",
    "the domain is wrong, it should be Climate instead of Marine",
    "actually not Marine but Climate",
])
async def test_a_correction_that_names_what_it_replaces(chat: Transcript,
                                                        correction: str) -> None:
    """The turned-down answer is named too: it is not a second choice to ask about."""
    await chat.say("name: X, url: https://example.org/x, hosting: no, modalities: text, "
                   "domain: Marine")
    answer = await chat.say(correction)
    if "Right?" in answer:  # no field named ("actually ..."): shown back for a yes
        assert "domain Climate" in answer
        answer = await chat.say("yes")
    assert "Domain: Climate" in answer and "Marine" not in answer.split("Domain:")[1][:20]
    assert (await answers(chat)).domain == DomainAnswer(value="Climate", is_suggestion=False)


async def test_a_choice_that_turns_an_alternative_down(chat: Transcript) -> None:
    await chat.say("name: X, url: https://example.org/x, hosting: no")
    await chat.upload("README.md", CARD)
    await chat.say("text, not images")
    assert (await answers(chat)).modalities == ["Text Only"]
    await chat.say("Legal rather than Finance")
    assert (await answers(chat)).domain == DomainAnswer(value="Legal", is_suggestion=False)


async def test_wait_the_name_is_wrong_at_the_hosting_question(chat: Transcript) -> None:
    await chat.say("name: Coral Reef Images, url: https://example.org/coral")
    answer = await chat.say("wait, the name is wrong, it should just be Coral Reefs")
    assert "Dataset name: Coral Reefs" in answer
    assert "host the dataset" in answer  # still the open question
    state = await chat.state()
    assert state.answers.name == "Coral Reefs" and state.answers.hosting is None


async def test_oh_right_it_s_an_address(chat: Transcript) -> None:
    await chat.say("name: X, url: https://example.org/x, hosting: yes")
    answer = await chat.say("oh right, it's dana@example.org")
    assert "Contact e-mail: dana@example.org" in answer
    assert (await chat.state()).asking == "card"


async def test_oops_sorry_a_link(chat: Transcript) -> None:
    await chat.say("name: X, url: https://example.org/wrong")
    answer = await chat.say("oops sorry, https://example.org/right")
    assert "Dataset location: https://example.org/right" in answer
    assert (await answers(chat)).location == "https://example.org/right"
    assert (await answers(chat)).hosting is None


async def test_corrections_in_other_words(chat: Transcript) -> None:
    await complete_but_consent(chat)
    answer = await chat.say("make the name Atlantic Buoys")
    assert "Dataset name: Atlantic Buoys" in answer
    answer = await chat.say("set the e-mail to sam@example.org")
    assert "Contact e-mail: sam@example.org" in answer
    answer = await chat.say("Hold on, the domain should be Climate")
    assert "Domain: Climate" in answer
    answer = await chat.say("sorry, I meant Legal")  # at the consent question: which field?
    assert "I understood: domain Legal. Right?" in answer
    answer = await chat.say("yes")
    assert "Domain: Legal" in answer and "terms" in answer  # back to the open question
    answer = await chat.say("wait, the name is wrong")
    assert "Dataset name is now: Atlantic Buoys" in answer


async def complete_but_consent(chat: Transcript) -> None:
    await chat.say("name: Ocean Temperatures, url: https://example.org/ocean, hosting: no, "
                   "modalities: text, domain: marine, email: ada@example.org")
    await chat.upload("README.md", CARD)


# -- the card's own words ----------------------------------------------------------------

async def test_a_card_first_offers_its_name_and_its_modalities(chat: Transcript) -> None:
    answer = await chat.upload("README.md", CARD)
    assert 'Your dataset card calls the dataset "Ocean Temperatures 2020-2024". Answer "yes"' \
        in answer
    answer = await chat.say("yes")
    assert "Dataset name: Ocean Temperatures 2020-2024" in answer
    await chat.say("https://example.org/ocean")
    answer = await chat.say("no")
    assert "suggest: Other (e.g., science data)" in answer  # time-series-forecasting
    answer = await chat.say("yes")
    assert "Modalities: Other (e.g., science data)" in answer
    assert "Note: your dataset card calls" not in "\n".join(chat.said)


async def test_a_name_that_differs_from_the_card_is_pointed_out_once(chat: Transcript) -> None:
    await chat.say("name: Ocean Temperatures")
    answer = await chat.upload("README.md", CARD)
    assert 'calls the dataset "Ocean Temperatures 2020-2024", and you named it ' \
           '"Ocean Temperatures"' in answer
    answer = await chat.upload("README.md", CARD)
    assert "you named it" not in answer
    answer = await chat.say("change name to Ocean Temperatures 2020-2024")
    assert "Dataset name: Ocean Temperatures 2020-2024" in answer and "you named" not in answer


# -- consent -----------------------------------------------------------------------------

async def test_an_early_terms_sure_shows_the_terms_and_asks(chat: Transcript) -> None:
    answer = await chat.say("name: Birds, terms: sure")
    assert "Dataset name: Birds" in answer
    assert "CDLA-Permissive-2.0" in answer and "Do you agree to these terms?" in answer
    assert (await answers(chat)).consent is None
    answer = await chat.say("yes, I agree")
    assert "Agreement to the contribution terms: agreed" in answer
    assert "Where can the dataset be found?" in answer


async def test_i_agree_at_the_name_question_is_not_a_name(chat: Transcript) -> None:
    await chat.say("hello")
    answer = await chat.say("I agree")
    assert "Dataset name" not in answer and "CDLA-Permissive-2.0" in answer
    assert await answers(chat) == Answers()
    answer = await chat.say("Coral Reefs")  # the terms are not nagged about
    assert (await answers(chat)).consent is None


async def test_agreeing_early_with_everything_else_asks_once_with_the_summary(
        chat: Transcript) -> None:
    await chat.upload("README.md", CARD)
    answer = await chat.say(
        "name: Ocean, url: https://example.org/o, hosting: no, modalities: text, "
        "domain: marine, email: a@example.org, I agree to the terms for contribution: yes")
    assert "Here is your contribution" in answer and "CDLA-Permissive-2.0" in answer
    assert "Agreement to the contribution terms: (not given yet)" in answer
    answer = await chat.say("Yes, submit it.")
    assert "is submitted as OTDI-" in answer
    state = await chat.state()
    assert state.phase is Phase.SUBMITTED and state.answers.consent is not None \
        and state.answers.consent.agreed


# -- cancel and undo ---------------------------------------------------------------------

async def test_cancel_asks_first_and_undo_brings_it_back(chat: Transcript) -> None:
    await complete_but_consent(chat)
    answer = await chat.say("cancel")
    assert "Cancel this contribution? Its 7 answers" in answer
    answer = await chat.say("no")
    assert "nothing is cancelled" in answer and "terms" in answer
    await chat.say("cancel")
    answer = await chat.say("yes")
    assert "Cancelled" in answer and '"undo"' in answer
    answer = await chat.say("undo")
    assert "not cancelled" in answer and "terms" in answer
    state = await chat.state()
    assert state.phase is Phase.COLLECTING and len(state.answers.given()) == 7


async def test_undo_takes_back_the_last_change(chat: Transcript) -> None:
    await complete_but_consent(chat)
    answer = await chat.say("change the domain to Legal")
    assert "Domain: Legal" in answer
    answer = await chat.say("undo")
    assert "Undone:" in answer and "Domain: Marine" in answer
    assert (await answers(chat)).domain == DomainAnswer(value="Marine")
    answer = await chat.say("undo")  # the card, then
    assert "Dataset card: (not given)" in answer
    answer = await chat.say("take that back")
    assert "Undone" in answer


async def test_nothing_to_undo(chat: Transcript) -> None:
    answer = await chat.say("undo")
    assert "nothing to undo" in answer


# -- the small items ---------------------------------------------------------------------

async def test_the_numbers_shown_answer_the_question_shown(chat: Transcript) -> None:
    await complete_but_consent(chat)
    await chat.say("I agree")
    answer = await chat.say("1")  # "1) Submit"
    assert "is submitted as OTDI-" in answer


async def test_status_has_its_space(chat: Transcript) -> None:
    await chat.say("name: Ocean")
    answer = await chat.say("status")
    assert "answers given.Still" not in answer and "Still needed" in answer


def test_one_warning_is_one_warning() -> None:
    context = {"reference": "OTDI-0001", "name": "X", "location": "https://e.org",
               "status": "submitted", "hosting": "self", "modalities": ["Text Only"],
               "domain": "Legal",
               "domain_is_suggestion": False, "email": "a@e.org", "channel": "mail",
               "card": {"report": {"verdict": "passes", "findings": [
                   {"severity": "warning"}]}}, "card_url": None}
    for flavour in ("text", "slack"):
        try:
            text = Renderer().render("review_summary", context, flavour)
        except Exception as error:  # a context key the template has and we lack
            pytest.fail(f"review_summary ({flavour}): {error}")
        assert "(0 errors, 1 warning)" in text, text


# -- found by trying it in `intake chat` -------------------------------------------------

async def test_a_field_corrected_during_a_proposal_is_not_asked_again(chat: Transcript) -> None:
    await chat.say("hello")
    await chat.say("Coral Reef Images, http://example.org/coral")
    await chat.say("no, the name is Coral Reefs of Belize")
    answer = await chat.say("yes")
    assert "Dataset location: https://example.org/coral" in answer
    assert "name of the dataset" not in answer and "host the dataset" in answer


async def test_yes_i_agree_under_the_summary_submits(chat: Transcript) -> None:
    await complete_but_consent(chat)
    answer = await chat.say("terms: sure")  # at the consent question: the terms are shown
    assert "Here is your contribution" in answer
    answer = await chat.say("yes, I agree")
    assert "is submitted as OTDI-" in answer and "Before I record" not in answer


async def test_the_terms_start_on_their_own_line(chat: Transcript) -> None:
    await complete_but_consent(chat)
    answer = "\n".join(chat.said)
    assert "Last step, the contribution terms:\nThe contributor affirms" in answer


def test_a_state_stored_before_these_changes_still_loads_and_goes_on() -> None:
    """A row saved by the earlier code: ``asking`` a plain string, none of the new keys."""
    from datetime import UTC, datetime

    from core.cards import check_card
    from core.conversation import ConversationState, Inbound, StepContext, step
    from core.conversation.model import Question

    stored = {"phase": "collecting", "asking": "domain_suggestion",
              "answers": {"name": "Stars", "location": "https://example.org/s",
                          "hosting": "self", "card": "README.md", "modalities": ["Images"]},
              "card": {"filename": "README.md", "sha256": "ab", "size": 3,
                       "verdict": "passes", "errors": [], "warnings": []},
              "pending_domain": "Astrophysics", "suggestion": None,
              "offered": ["yes", "no"], "suggested_email": None,
              "card_errors_acknowledged": False, "reference": None, "submission_id": None,
              "turns": 7}
    state = ConversationState.model_validate(stored)
    assert state.asking is Question.DOMAIN_SUGGESTION and state.undo == []
    ctx = StepContext(now=datetime(2026, 11, 25, tzinfo=UTC), check_card=check_card)
    result = step(state, Inbound(text="yes"), ctx)
    assert result.state.answers.domain == DomainAnswer(value="Astrophysics", is_suggestion=True)
    assert result.state.asking is Question.EMAIL
    assert result.state.model_dump(mode="json")["asking"] == "email"


async def test_card_findings_are_kept_as_codes_and_shown_in_words(chat: Transcript) -> None:
    await chat.say("name: X, url: https://example.org/x, hosting: yes, modalities: audio, "
                   "domain: legal, email: ada@example.org")
    await chat.upload("card.md", BROKEN_CARD)
    state = await chat.state()
    assert state.card is not None and state.card.errors == [] and state.card.warnings == []
    codes = {f.code for f in state.card.findings}
    assert "no_front_matter" in codes
    stored = state.model_dump(mode="json")["card"]["findings"]
    assert all(set(f) == {"severity", "field", "code", "context"} for f in stored)
    answer = await chat.say("I agree")
    assert "front matter" in answer  # rendered from the code when the summary is shown


def test_a_stored_card_with_rendered_messages_is_still_summarised() -> None:
    from datetime import UTC, datetime

    from core.cards import check_card
    from core.conversation import ConversationState, Inbound, StepContext, step
    from core.render import render_reply

    state = ConversationState.model_validate({
        "phase": "confirming", "asking": "confirm", "answers": {"name": "X"},
        "card": {"filename": "card.md", "sha256": "ab", "size": 3, "verdict": "problems",
                 "errors": ["The card has no YAML front matter."], "warnings": []}})
    ctx = StepContext(now=datetime(2026, 11, 25, tzinfo=UTC), check_card=check_card)
    result = step(state, Inbound(text="summary"), ctx)
    text = render_reply(Renderer(), result.reply.to_dict(), "text")
    assert "1 problem found" in text and "- The card has no YAML front matter." in text
    assert "Answer \"submit anyway\"" in text


async def test_after_withdrawing_no_one_is_said_to_be_in_touch(chat: Transcript) -> None:
    await complete_but_consent(chat)
    await chat.say("yes, I agree")
    answer = await chat.say("yes")
    assert "is submitted as" in answer
    answer = await chat.say("status")
    assert "Reviewers will be in touch here" in answer
    await chat.say("withdraw")
    answer = await chat.say("status")
    assert "is withdrawn; thank you for considering OTDI" in answer
    assert "Reviewers will be in touch" not in answer


@pytest.mark.parametrize("later", ["skip", "I don't know", "later", "not sure"])
async def test_a_question_can_be_left_for_later(chat: Transcript, later: str) -> None:
    """Nothing is lost and nothing is guessed: the question comes back after the others."""
    await chat.say("name: Skip Test, url: https://example.org/skip")
    answer = await chat.say(later)
    assert "ask about the hosting again at the end" in answer and "dataset card" in answer
    state = await chat.state()
    assert state.answers.hosting is None and state.asking == "card"
    await chat.upload("README.md", CARD)
    await chat.say("text")
    await chat.say("marine")
    answer = await chat.say("ada@example.org")
    assert "Do you agree to these terms?" in answer
    answer = await chat.say("yes, I agree")
    assert "host the dataset" in answer  # the one left for later, before the summary
    answer = await chat.say(later)
    assert "Hosting is the one answer still missing" in answer
    answer = await chat.say("no")
    assert "Here is your contribution" in answer and "No, I keep my own hosting" in answer
