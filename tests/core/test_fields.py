"""Table-driven tests for the field parsers and the error sentences they render to.

The tables are the spec of what contributors may type; a parser change that breaks a
row breaks a real conversation.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from core.fields import (
    FIELD_ORDER,
    PARSERS,
    Consent,
    ContactEmail,
    DatasetLocation,
    DatasetName,
    Domain,
    FieldError,
    Hosting,
    Modalities,
    choices_for,
    parse_field,
)
from core.render import Renderer
from core.spec import domain_choices, modality_choices

TEXT, IMAGES, AUDIO, VIDEO = "Text Only", "Images", "Audio", "Video (including audio)"
OTHER = "Other (e.g., science data)"
ALL_FOUR = [TEXT, IMAGES, AUDIO, VIDEO]


def error_of(parser: type[Any], text: str) -> FieldError:
    """The FieldError a parser raises for ``text`` (fails the test if it parses)."""
    with pytest.raises(FieldError) as caught:
        parser.parse(text)
    return caught.value


# --------------------------------------------------------------------------- API shape


def test_field_order_matches_form() -> None:
    assert FIELD_ORDER == ("name", "location", "hosting", "card", "modalities", "domain",
                           "email", "consent")


def test_field_error_carries_field_code_context() -> None:
    err = FieldError("name", "name_too_long", length=250, limit=200)
    assert isinstance(err, ValueError)
    assert (err.field, err.code, err.context) == ("name", "name_too_long",
                                                  {"length": 250, "limit": 200})
    assert err.render_context() == {"field": "name", "code": "name_too_long",
                                    "length": 250, "limit": 200}


@pytest.mark.parametrize(("field", "text", "model", "expected"), [
    ("name", "My data", DatasetName, {"value": "My data"}),
    ("location", "https://x.org/d", DatasetLocation, {"value": "https://x.org/d"}),
    ("hosting", "yes", Hosting, {"value": "alliance"}),
    ("modalities", "text", Modalities, {"values": [TEXT]}),
    ("domain", "legal", Domain, {"value": "Legal", "is_suggestion": False}),
    ("email", "a@example.org", ContactEmail, {"value": "a@example.org"}),
    ("consent", "I agree", Consent, {"agreed": True}),
])
def test_parse_field_dispatches(field: str, text: str, model: type[BaseModel],
                                expected: dict[str, Any]) -> None:
    parsed = parse_field(field, text)
    assert isinstance(parsed, model)
    assert parsed.model_dump() == expected


@pytest.mark.parametrize("field", ["card", "bogus", "", "Name"])
def test_parse_field_unknown_key(field: str) -> None:
    with pytest.raises(KeyError):
        parse_field(field, "anything")


def test_parse_field_raises_field_error_with_field_key() -> None:
    with pytest.raises(FieldError) as caught:
        parse_field("email", "not an address")
    assert caught.value.field == "email"


def test_choices_for() -> None:
    assert choices_for("hosting") == [("alliance", "Yes, the AI Alliance hosts it"),
                                      ("self", "No, I keep my own hosting")]
    assert choices_for("modalities") == [(label, label) for label in modality_choices()]
    assert choices_for("domain") == [(label, label) for label in domain_choices()]
    assert choices_for("consent") == [("yes", "I agree"), ("no", "I do not agree")]
    for field in ("name", "location", "card", "email", "nope"):
        assert choices_for(field) == []


@pytest.mark.parametrize("field", ["hosting", "modalities", "domain", "consent"])
def test_every_button_parses_to_its_value(field: str) -> None:
    """Pressing a button sends its caption or value; both must parse back."""
    for value, label in choices_for(field):
        for text in (value, label):
            parsed = parse_field(field, text)
            if field == "hosting":
                assert parsed.value == value  # type: ignore[attr-defined]
            elif field == "modalities":
                assert parsed.values == [value]  # type: ignore[attr-defined]
            elif field == "domain":
                assert parsed.model_dump() == {"value": value, "is_suggestion": False}
            else:
                assert parsed.agreed is (value == "yes")  # type: ignore[attr-defined]


def test_models_are_frozen() -> None:
    name = DatasetName.parse("x")
    with pytest.raises(ValueError):
        name.value = "y"  # type: ignore[misc]


# --------------------------------------------------------------------------- name


@pytest.mark.parametrize(("text", "expected"), [
    ("My Dataset", "My Dataset"),
    ("  My Dataset  ", "My Dataset"),
    ("My\n\n  Dataset\tv2", "My Dataset v2"),
    ("My\x00Data\x07set", "MyDataset"),
    ("\u202eevil\u202c name", "evil name"),
    ("\ufeffBOM name\u200b", "BOM name"),
    ('"Quoted Name"', "Quoted Name"),
    ("\u201cSmart Quotes\u201d", "Smart Quotes"),
    ("Ocean 🌊 Temperatures", "Ocean 🌊 Temperatures"),
    ("👨\u200d👩\u200d👧 family", "👨\u200d👩\u200d👧 family"),
    ("Données météo", "Données météo"),
    ("مجموعة البيانات", "مجموعة البيانات"),
    ("x", "x"),
    ("a" * 200, "a" * 200),
    ("  " + "b" * 200 + "\n", "b" * 200),
    ("It's \"the\" set", "It's \"the\" set"),
])
def test_name_ok(text: str, expected: str) -> None:
    assert DatasetName.parse(text).value == expected


@pytest.mark.parametrize(("text", "code"), [
    ("", "name_empty"),
    ("   ", "name_empty"),
    ("\n\t\r", "name_empty"),
    ("\x00\x01\x02", "name_empty"),
    ("\u200e\u200f", "name_empty"),
    ('""', "name_empty"),
    ("a" * 201, "name_too_long"),
    ("word " * 100_000, "name_too_long"),
])
def test_name_bad(text: str, code: str) -> None:
    assert error_of(DatasetName, text).code == code


def test_name_too_long_context() -> None:
    err = error_of(DatasetName, "a" * 250)
    assert err.context == {"length": 250, "limit": 200}


# --------------------------------------------------------------------------- location


@pytest.mark.parametrize(("text", "expected"), [
    ("https://huggingface.co/datasets/org/name", "https://huggingface.co/datasets/org/name"),
    ("  https://example.org/data  ", "https://example.org/data"),
    ("<https://example.org/data>", "https://example.org/data"),
    ("<https://example.org/data|example.org/data>", "https://example.org/data"),
    ("<https://example.org/data|label>.", "https://example.org/data"),
    ("<https://example.org/?a=1&amp;b=2>", "https://example.org/?a=1&b=2"),
    ("https://example.org/data.", "https://example.org/data"),
    ("https://example.org/data).", "https://example.org/data"),
    ("https://example.org/data!", "https://example.org/data"),
    ("https://example.org/data,", "https://example.org/data"),
    ("(https://example.org/data)", "https://example.org/data"),
    ("[https://example.org/data]", "https://example.org/data"),
    ('"https://example.org/data"', "https://example.org/data"),
    ("`https://example.org/data`", "https://example.org/data"),
    ("\u201chttps://example.org/data\u201d", "https://example.org/data"),
    ("[the data](https://example.org/data)", "https://example.org/data"),
    ("https://en.wikipedia.org/wiki/Foo_(bar)", "https://en.wikipedia.org/wiki/Foo_(bar)"),
    ("(https://en.wikipedia.org/wiki/Foo_(bar))", "https://en.wikipedia.org/wiki/Foo_(bar)"),
    ("HTTPS://Example.org/Data", "https://Example.org/Data"),
    ("https://example.org:8443/x?y=1#frag", "https://example.org:8443/x?y=1#frag"),
    ("https://example.org", "https://example.org"),
    ("https://[2001:db8::1]/data", "https://[2001:db8::1]/data"),
    ("https://bücher.de/daten", "https://bücher.de/daten"),
    ("https://example.org/a%20b", "https://example.org/a%20b"),
    ("\u200ehttps://example.org/data\u200f", "https://example.org/data"),
    ("https://example.org/" + "a" * 2028, "https://example.org/" + "a" * 2028),
])
def test_location_ok(text: str, expected: str) -> None:
    assert DatasetLocation.parse(text).value == expected


@pytest.mark.parametrize(("text", "code", "context"), [
    ("", "location_empty", {}),
    ("   ", "location_empty", {}),
    ("<>", "location_empty", {}),
    ("http://example.org/data", "location_http", {"suggestion": "https://example.org/data"}),
    ("HTTP://example.org/data", "location_http", {"suggestion": "https://example.org/data"}),
    ("<http://example.org/x|example.org/x>", "location_http",
     {"suggestion": "https://example.org/x"}),
    ("http://example.org/data.", "location_http", {"suggestion": "https://example.org/data"}),
    ("javascript:alert(1)", "location_scheme", {"scheme": "javascript"}),
    ("JavaScript:alert(1)", "location_scheme", {"scheme": "javascript"}),
    ("ftp://example.org/data", "location_scheme", {"scheme": "ftp"}),
    ("file:///home/me/data.csv", "location_scheme", {"scheme": "file"}),
    ("data:text/plain;base64,SGVsbG8=", "location_scheme", {"scheme": "data"}),
    ("s3://bucket/key", "location_scheme", {"scheme": "s3"}),
    ("hf://datasets/org/name", "location_scheme", {"scheme": "hf"}),
    ("mailto:me@example.org", "location_scheme", {"scheme": "mailto"}),
    ("my dataset", "location_not_url", {}),
    ("dataset", "location_not_url", {}),
    ("data.csv", "location_not_url", {}),
    ("localhost:8000", "location_not_url", {}),
    ("C:\\data\\file.csv", "location_not_url", {}),
    ("example.org/data", "location_not_url", {"suggestion": "https://example.org/data"}),
    ("www.example.org", "location_not_url", {"suggestion": "https://www.example.org"}),
    ("huggingface.co/datasets/org/name", "location_not_url",
     {"suggestion": "https://huggingface.co/datasets/org/name"}),
    ("example.org:8080/x", "location_not_url", {"suggestion": "https://example.org:8080/x"}),
    ("//example.org/data", "location_not_url", {"suggestion": "https://example.org/data"}),
    ("example.org/data.", "location_not_url", {"suggestion": "https://example.org/data"}),
    ("https://", "location_no_host", {}),
    ("https:///path", "location_no_host", {}),
    ("https:example.org", "location_no_host", {}),
    ("https:/example.org", "location_no_host", {}),
    ("https://.../x", "location_no_host", {}),
    ("https://user:password@example.org/data", "location_credentials", {}),
    ("https://user@example.org/data", "location_credentials", {}),
    ("http://user:pw@example.org", "location_credentials", {}),
    ("https://example.org/" + "a" * 2029, "location_too_long", {"length": 2049, "limit": 2048}),
    ("https://example.org/my data", "location_whitespace", {}),
    ("https://example.org/my\ndata", "location_whitespace", {}),
    ("https://example.org/data thanks!", "location_whitespace", {}),
    ("it is at https://example.org/data.", "location_whitespace",
     {"suggestion": "https://example.org/data"}),
    ("see <https://example.org/data>", "location_whitespace",
     {"suggestion": "https://example.org/data"}),
    ("here: http://example.org/data", "location_whitespace",
     {"suggestion": "https://example.org/data"}),
    ("it's on huggingface.co/datasets/a/b", "location_whitespace",
     {"suggestion": "https://huggingface.co/datasets/a/b"}),
    ("https://a.org or https://b.org", "location_whitespace", {}),
    ("https://example.org:abc/", "location_not_url", {}),
    ("https://[::1/", "location_not_url", {}),
])
def test_location_bad(text: str, code: str, context: dict[str, Any]) -> None:
    err = error_of(DatasetLocation, text)
    assert (err.field, err.code, err.context) == ("location", code, context)


def test_location_parse_is_idempotent() -> None:
    url = DatasetLocation.parse("<https://example.org/a_(b)|x>.").value
    assert DatasetLocation.parse(url).value == url


# --------------------------------------------------------------------------- hosting


@pytest.mark.parametrize("text", [
    "yes", "Yes", "YES!", "y", "Y", "yeah", "yep", "sure", "ok", "host it", "Host it.",
    "alliance", "the alliance", "The Alliance", "AI Alliance hosts it", "AI Alliance",
    "please host", "please host it", "yes please", "Yes please!", "you host it",
    "I'd like the Alliance to host it", "I want you to host it", "alliance hosting",
    "Yes, the AI Alliance hosts it", "yes - host it", "OTDI", "host",
    "we'd like the Alliance to host it", "host it on your servers", "you'd host it",
])
def test_hosting_alliance(text: str) -> None:
    assert Hosting.parse(text).value == "alliance"


@pytest.mark.parametrize("text", [
    "no", "No.", "n", "N", "nope", "nah", "self", "Self", "keep my own", "my own",
    "I host it", "i host it", "I'll host it", "we host it", "We will host it ourselves",
    "self-hosted", "self hosted", "Self-Hosting", "own hosting", "no thanks", "No, thank you",
    "No, I keep my own hosting", "I keep my own hosting", "don't host it", "host it myself",
    "it's already on Hugging Face", "mine", "keep", "on our own servers",
    "we'll host it ourselves", "it stays on our own infrastructure",
    "we'd rather keep our own hosting", "we'll keep it on our site",
])
def test_hosting_self(text: str) -> None:
    assert Hosting.parse(text).value == "self"


@pytest.mark.parametrize("text", [
    "", "   ", "maybe", "banana", "not sure", "what does hosting mean", "yes?", "host it?",
    "yes no", "no, the alliance hosts it", "yes, I keep my own", "🤷", "?", "idk",
    "x" * 100_000,
])
def test_hosting_unclear(text: str) -> None:
    err = error_of(Hosting, text)
    assert (err.field, err.code, err.context) == ("hosting", "hosting_unclear", {})


# --------------------------------------------------------------------------- modalities


@pytest.mark.parametrize(("text", "expected"), [
    ("text", [TEXT]),
    ("Text", [TEXT]),
    ("texts", [TEXT]),
    ("text only", [TEXT]),
    ("Text Only", [TEXT]),
    ("textual", [TEXT]),
    ("image", [IMAGES]),
    ("images", [IMAGES]),
    ("Images", [IMAGES]),
    ("picture", [IMAGES]),
    ("pictures", [IMAGES]),
    ("photo", [IMAGES]),
    ("photos", [IMAGES]),
    ("photographs", [IMAGES]),
    ("audio", [AUDIO]),
    ("sound", [AUDIO]),
    ("sounds", [AUDIO]),
    ("speech", [AUDIO]),
    ("voice", [AUDIO]),
    ("video", [VIDEO]),
    ("videos", [VIDEO]),
    ("movie", [VIDEO]),
    ("movies", [VIDEO]),
    ("film", [VIDEO]),
    ("films", [VIDEO]),
    ("video including audio", [VIDEO]),
    ("Video (including audio)", [VIDEO]),
    ("VIDEO (INCLUDING AUDIO)", [VIDEO]),
    ("other", [OTHER]),
    ("science data", [OTHER]),
    ("scientific data", [OTHER]),
    ("tabular", [OTHER]),
    ("Other (e.g., science data)", [OTHER]),
    ("Other (e.g. science data)", [OTHER]),
    ("all", ALL_FOUR),
    ("All of them", ALL_FOUR),
    ("everything", ALL_FOUR),
    ("all four", ALL_FOUR),
    ("all, plus tabular", [*ALL_FOUR, OTHER]),
    ("text, images", [TEXT, IMAGES]),
    ("images, text", [TEXT, IMAGES]),
    ("text; audio", [TEXT, AUDIO]),
    ("text/images", [TEXT, IMAGES]),
    ("text+images", [TEXT, IMAGES]),
    ("text & images", [TEXT, IMAGES]),
    ("text and images", [TEXT, IMAGES]),
    ("text\nimages\naudio", [TEXT, IMAGES, AUDIO]),
    ("text images", [TEXT, IMAGES]),
    ("video and audio", [AUDIO, VIDEO]),
    ("Text Only, Other (e.g., science data)", [TEXT, OTHER]),
    ("Other (e.g., science data), Video (including audio)", [VIDEO, OTHER]),
    (", ".join(modality_choices()), modality_choices()),
    ("text, text, TEXT, texts", [TEXT]),
    ("photos and pictures", [IMAGES]),
    ("- text\n- images", [TEXT, IMAGES]),
    ("mostly text, some images", [TEXT, IMAGES]),
    ("text 📝", [TEXT]),
    ("time series data", [OTHER]), ("text and sensor readings", [TEXT, OTHER]),
    ("satellite images", [IMAGES]), ("underwater video", [VIDEO]),
    ("annotated text, csv", [TEXT, OTHER]),
])
def test_modalities_ok(text: str, expected: list[str]) -> None:
    assert Modalities.parse(text).values == expected


@pytest.mark.parametrize(("text", "code", "unknown"), [
    ("", "modalities_empty", None),
    ("  \n ", "modalities_empty", None),
    (",;/", "modalities_empty", None),
    ("banana", "modalities_unknown", ["banana"]),
    ("text, banana", "modalities_unknown", ["banana"]),
    ("text, 3d meshes", "modalities_unknown", ["3d", "meshes"]),
    ("and", "modalities_unknown", ["and"]),
    ("📷", "modalities_unknown", ["📷"]),
    ("a b c d e f g h", "modalities_unknown", ["b", "c", "d", "f", "h"]),
    ("zzz " * 50_000, "modalities_unknown", ["zzz"]),
])
def test_modalities_bad(text: str, code: str, unknown: list[str] | None) -> None:
    err = error_of(Modalities, text)
    assert err.code == code
    assert err.context["choices"] == modality_choices()
    if unknown is not None:
        assert err.context["unknown"] == unknown


def test_modalities_round_trip() -> None:
    """What we store (labels joined by commas) must parse back to the same labels."""
    for size in range(1, len(modality_choices()) + 1):
        labels = modality_choices()[:size]
        assert Modalities.parse(", ".join(labels)).values == labels


# --------------------------------------------------------------------------- domain


@pytest.mark.parametrize(("text", "expected"), [
    *[(label, label) for label in domain_choices()],
    *[(label.upper(), label) for label in domain_choices()],
    *[(label.lower() + ".", label) for label in domain_choices()],
    ("time-series", "Time Series"),
    ("timeseries", "Time Series"),
    ("TIME SERIES", "Time Series"),
    ("Time_Series", "Time Series"),
    ("social sciences", "Social Science"),
    ("Social-Science", "Social Science"),
    ("health care", "Healthcare"),
    ("health", "Healthcare"),
    ("medical", "Healthcare"),
    ("general", "Not domain specific"),
    ("General Purpose", "Not domain specific"),
    ("general-purpose", "Not domain specific"),
    ("not domain specific", "Not domain specific"),
    ("Not domain-specific.", "Not domain specific"),
    ("none", "Not domain specific"),
    ("other industrial", "Other Industrial"),
    ("Other-Industrial", "Other Industrial"),
    ("industrial", "Other Industrial"),
    ("financial", "Finance"),
    ("law", "Legal"),
    ("semiconductor", "Semiconductors"),
    ("material science", "Materials"),
    ("ocean", "Marine"),
    ("the climate domain", "Climate"),
    ("mostly finance", "Finance"),
    ("  legal\n", "Legal"),
])
def test_domain_known(text: str, expected: str) -> None:
    parsed = Domain.parse(text)
    assert (parsed.value, parsed.is_suggestion) == (expected, False)


@pytest.mark.parametrize(("text", "expected"), [
    ("agriculture", "agriculture"),
    ("  Agriculture  ", "Agriculture"),
    ("Space\n exploration", "Space exploration"),
    ("medical imaging", "medical imaging"),
    ("science", "science"),
    ("Robotics 🤖", "Robotics 🤖"),
    ("x" * 100, "x" * 100),
    ("\u202eEducation", "Education"),
])
def test_domain_suggestion(text: str, expected: str) -> None:
    parsed = Domain.parse(text)
    assert (parsed.value, parsed.is_suggestion) == (expected, True)


@pytest.mark.parametrize(("text", "code", "context"), [
    ("", "domain_empty", {"choices": domain_choices()}),
    (" \n\t", "domain_empty", {"choices": domain_choices()}),
    ("\x00\u200b", "domain_empty", {"choices": domain_choices()}),
    ("climate and marine", "domain_multiple", {"found": ["Climate", "Marine"]}),
    ("marine, climate", "domain_multiple", {"found": ["Climate", "Marine"]}),
    ("finance / legal / healthcare", "domain_multiple",
     {"found": ["Finance", "Healthcare", "Legal"]}),
    ("time series in finance", "domain_multiple", {"found": ["Time Series", "Finance"]}),
    ("x" * 101, "domain_suggestion_too_long", {"length": 101, "limit": 100}),
    ("word " * 30, "domain_suggestion_too_long", {"length": 149, "limit": 100}),
])
def test_domain_bad(text: str, code: str, context: dict[str, Any]) -> None:
    err = error_of(Domain, text)
    assert (err.field, err.code, err.context) == ("domain", code, context)


# --------------------------------------------------------------------------- email


@pytest.mark.parametrize(("text", "expected"), [
    ("jane@example.org", "jane@example.org"),
    ("  jane@example.org \n", "jane@example.org"),
    ("Jane@EXAMPLE.ORG", "Jane@example.org"),
    ("Jane Doe <jane@example.org>", "jane@example.org"),
    ('"Doe, Jane" <jane@example.org>', "jane@example.org"),
    ("<jane@example.org>", "jane@example.org"),
    ("mailto:jane@example.org", "jane@example.org"),
    ("MAILTO:jane@example.org", "jane@example.org"),
    ("mailto:jane@example.org?subject=hi", "jane@example.org"),
    ("<mailto:jane@example.org|jane@example.org>", "jane@example.org"),
    ("jane@example.org.", "jane@example.org"),
    ("jane.doe+otdi@sub.example.co.uk", "jane.doe+otdi@sub.example.co.uk"),
    ("jane@bücher.de", "jane@bücher.de"),
    ("\u200ejane@example.org", "jane@example.org"),
])
def test_email_ok(text: str, expected: str) -> None:
    assert ContactEmail.parse(text).value == expected


@pytest.mark.parametrize(("text", "code"), [
    ("", "email_empty"),
    ("   ", "email_empty"),
    ("<>", "email_empty"),
    ("mailto:", "email_empty"),
    ("jane", "email_invalid"),
    ("jane@", "email_invalid"),
    ("@example.org", "email_invalid"),
    ("jane@example", "email_invalid"),
    ("jane@@example.org", "email_invalid"),
    ("jane doe@example.org", "email_invalid"),
    ("jane@localhost", "email_invalid"),
    ("jane@exa mple.org", "email_invalid"),
    ("a" * 300 + "@example.org", "email_invalid"),
    ("x@" + "a" * 5000 + ".org", "email_invalid"),
    ("@" * 100_000, "email_invalid"),
])
def test_email_bad(text: str, code: str) -> None:
    err = error_of(ContactEmail, text)
    assert err.code == code
    if code == "email_invalid":  # the validator's reason, or how far over the limit it is
        reason = err.context.get("reason")
        assert (isinstance(reason, str) and reason) or (
            err.context["length"] > err.context["limit"])


# --------------------------------------------------------------------------- consent


@pytest.mark.parametrize("text", [
    "yes", "Yes", "YES", "y", "Y", "yes please", "I agree", "i agree", "agree", "Agreed.",
    "i accept", "I accept the terms", "yes, I agree to the terms", "Yes, I agree to the terms.",
    "yes i do", "I do", "sure, I agree", "absolutely", "Absolutely!", "ok I agree", "okay",
    "yep", "yeah, I agree", "I agree to the terms for contribution", "I hereby agree",
    "👍", ":+1:", "✅ I agree", "of course", "I fully agree", "I agree and accept",
])
def test_consent_yes(text: str) -> None:
    assert Consent.parse(text).agreed is True


@pytest.mark.parametrize("text", [
    "no", "No", "n", "N", "nope", "I do not agree", "i don't agree", "don't agree",
    "I don’t agree", "disagree", "I disagree", "decline", "I decline", "no thanks",
    "No, I do not agree.", "I don't", "I do not accept the terms", "never", "👎",
    "I can't agree", "I refuse",
])
def test_consent_no(text: str) -> None:
    assert Consent.parse(text).agreed is False


@pytest.mark.parametrize("text", [
    "maybe", "yes?", "ok?", "yes and no", "what are the terms", "I guess", "not sure", "",
    "   ", "yes but I don't own it", "I agree?", "Do I have to?", "probably", "perhaps yes",
    "yes no", "no, I agree", "I agree, but only for research", "agree if it stays private",
    "hmm", "🤔", "let me check with my lawyer", "sure, why not", "x" * 100_000,
])
def test_consent_unclear(text: str) -> None:
    err = error_of(Consent, text)
    assert (err.field, err.code, err.context) == ("consent", "consent_unclear", {})


# --------------------------------------------------------------------------- error template

ERROR_CASES: list[tuple[str, str, dict[str, Any], list[str]]] = [
    ("name", "name_empty", {}, ["name"]),
    ("name", "name_too_long", {"length": 250, "limit": 200}, ["250", "200"]),
    ("location", "location_empty", {}, ["https://"]),
    ("location", "location_http", {"suggestion": "https://example.org/d"},
     ["http://", "https://example.org/d"]),
    ("location", "location_scheme", {"scheme": "ftp"}, ["ftp", "https://"]),
    ("location", "location_not_url", {}, ["https://"]),
    ("location", "location_not_url", {"suggestion": "https://example.org/d"},
     ["https://example.org/d"]),
    ("location", "location_no_host", {}, ["https://"]),
    ("location", "location_credentials", {}, ["password"]),
    ("location", "location_too_long", {"length": 3000, "limit": 2048}, ["3000", "2048"]),
    ("location", "location_whitespace", {}, ["space"]),
    ("location", "location_whitespace", {"suggestion": "https://example.org/d"},
     ["https://example.org/d"]),
    ("hosting", "hosting_unclear", {}, ["AI Alliance", "yes", "no"]),
    ("modalities", "modalities_empty", {"choices": modality_choices()}, modality_choices()),
    ("modalities", "modalities_unknown",
     {"unknown": ["banana", "3d"], "choices": modality_choices()},
     ["banana", "3d", *modality_choices()]),
    ("domain", "domain_empty", {"choices": domain_choices()}, domain_choices()),
    ("domain", "domain_multiple", {"found": ["Climate", "Marine"]}, ["Climate", "Marine", "one"]),
    ("domain", "domain_suggestion_too_long", {"length": 150, "limit": 100}, ["150", "100"]),
    ("email", "email_empty", {}, ["email"]),
    ("email", "email_invalid", {"reason": "An email address must have an @-sign."},
     ["@-sign"]),
    ("consent", "consent_unclear", {}, ["I agree", "I do not agree"]),
    ("name", "some_future_code", {}, ["name"]),
]


@pytest.mark.parametrize(("field", "code", "context", "mentions"), ERROR_CASES)
@pytest.mark.parametrize("flavour", ["text", "slack"])
def test_error_template_renders(field: str, code: str, context: dict[str, Any],
                                mentions: list[str], flavour: str) -> None:
    err = FieldError(field, code, **context)
    message = Renderer().render("field_error", err.render_context(), flavour=flavour)
    assert message
    assert "{" not in message and "<" not in message  # plain text, no leftover markup
    for needle in mentions:
        if flavour == "slack":
            needle = needle.replace("&", "&amp;")
        assert needle in message


def test_every_code_the_parsers_raise_has_a_sentence() -> None:
    """Each code reachable from a parser renders without falling to the generic sentence."""
    raised: dict[str, FieldError] = {}
    samples = {
        "name": ["", "a" * 300],
        "location": ["", "http://x.org", "ftp://x", "words", "x.org", "https://", "https://u@x.org",
                     "https://x.org/" + "a" * 3000, "https://x.org/a b", "see https://x.org"],
        "hosting": ["maybe"],
        "modalities": ["", "banana"],
        "domain": ["", "climate and marine", "x" * 200],
        "email": ["", "nope"],
        "consent": ["maybe"],
    }
    for field, texts in samples.items():
        for text in texts:
            with pytest.raises(FieldError) as caught:
                parse_field(field, text)
            raised.setdefault(caught.value.code, caught.value)
    assert set(raised) == {case[1] for case in ERROR_CASES if case[1] != "some_future_code"}
    renderer = Renderer()
    for err in raised.values():
        generic = renderer.render("field_error", FieldError(err.field, "zzz").render_context())
        message = renderer.render("field_error", err.render_context())
        assert message and message != generic


# --------------------------------------------------------------------------- robustness

HOSTILE = [
    "",
    "\x00" * 100_000,
    "a" * 100_000,
    "a " * 50_000,
    "(" * 100_000,
    ")" * 100_000,
    "<" * 50_000 + ">" * 50_000,
    "https://" + ")" * 100_000,
    "https://" + "a." * 50_000,
    "http://" + "a" * 100_000,
    "a." * 50_000 + "com",
    "a:" * 50_000,
    "@" * 100_000,
    "<mailto:" * 10_000,
    "\u202e" * 50_000 + "yes",
    "🙂" * 50_000,
    "yes " * 25_000,
    "\ud800 lone surrogate",
    "[" * 30_000 + "](" * 30_000,
]


@pytest.mark.parametrize("field", sorted(PARSERS))
@pytest.mark.parametrize("text", HOSTILE, ids=[f"hostile{i}" for i in range(len(HOSTILE))])
def test_hostile_input_is_fast_and_only_field_errors(field: str, text: str) -> None:
    started = time.perf_counter()
    try:
        parse_field(field, text)
    except FieldError as err:
        assert err.field == field
    assert time.perf_counter() - started < 2.0


WORDS = ["yes", "no", "https://", "http://", "<", ">", "|", "@", "?", ".", ",", "(", ")",
         "mailto:", "example.org", "text", "images", "all", "climate", "marine", "agree",
         "not", "host", "own", "\n", " ", "&amp;", "[", "](", ":", "//", "\x00", "\u202e"]
mixed_text = st.lists(st.one_of(st.sampled_from(WORDS), st.text(max_size=5)),
                      max_size=40).map("".join)
any_text = st.one_of(st.text(min_size=0, max_size=2000), mixed_text)


@pytest.mark.parametrize("field", sorted(PARSERS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=any_text)
def test_parsers_only_raise_field_error(field: str, text: str) -> None:
    try:
        parsed = parse_field(field, text)
    except FieldError as err:
        assert err.field == field
        assert err.code.startswith(field + "_")
        message = Renderer().render("field_error", err.render_context())
        assert message
    else:
        assert isinstance(parsed, PARSERS[field])


@settings(max_examples=200, deadline=None)
@given(text=any_text)
def test_name_is_idempotent(text: str) -> None:
    try:
        name = DatasetName.parse(text)
    except FieldError:
        return
    assert 1 <= len(name.value) <= 200
    assert name.value == name.value.strip() and "\n" not in name.value
    again = DatasetName.parse(name.value).value
    if name.value[0] not in "\"'`\u201c\u2018\u00ab":  # a quoted quote loses one more pair
        assert again == name.value


@settings(max_examples=200, deadline=None)
@given(text=any_text)
def test_location_results_are_https(text: str) -> None:
    try:
        location = DatasetLocation.parse(text)
    except FieldError:
        return
    assert location.value.startswith("https://")
    assert not any(ch.isspace() for ch in location.value)
    assert len(location.value) <= 2048
    assert DatasetLocation.parse(location.value) == location


@settings(max_examples=200, deadline=None)
@given(picked=st.lists(st.sampled_from(modality_choices()), min_size=1),
       separator=st.sampled_from([", ", "; ", " / ", " and ", "\n", " + ", " & "]))
def test_modalities_any_combination_of_labels(picked: list[str], separator: str) -> None:
    parsed = Modalities.parse(separator.join(picked))
    assert parsed.values == [label for label in modality_choices() if label in picked]
