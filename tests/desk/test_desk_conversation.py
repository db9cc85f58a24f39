"""The desk shows what a contributor wrote, not our own e-mail quoted back below it.

Gmail in Spanish quotes the thread without ">" marks under "... (<data+...@...>)
escribió:", which the quote stripper does not know; the submission address on that
line is what tells it apart (the mail adapter's rule, mail/quotes.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage

from core.repository import DeskInbound
from desk.conversation import inbound_text

SUBMIT = "data@otdi.test"


def _event() -> DeskInbound:
    message = EmailMessage()
    message["From"] = "ana@example.org"
    message["To"] = "data+t1@otdi.test"
    message["Subject"] = "Re: Your OTDI contribution"
    message["Message-ID"] = "<r1@example.org>"
    message.set_content(
        "Dataset name: Corales del Caribe\n\n"
        "El lun, 1 dic 2026 a las 10:00, OTDI Intake (<data+t1@otdi.test>) escribió:\n\n"
        "Thank you! Still needed:\n"
        "Dataset card:\n"
        "Contact e-mail: ana@example.org\n")
    return DeskInbound(1, datetime.now(UTC), {"mail_from": "ana@example.org"},
                       message.as_bytes(), "done")


def test_our_own_e_mail_quoted_back_is_not_shown_as_the_contributors_words() -> None:
    text = inbound_text("mail", _event(), SUBMIT)
    assert "Dataset name: Corales del Caribe" in text
    assert "Still needed" not in text and "Contact e-mail" not in text
