"""Who is a robot (RFC 3834 and the usual suspects), and what a bounce says."""

from __future__ import annotations

import pytest

from mail.parsing import parse_message
from mail.robots import delivery_report, robot_reason


def mail_with(headers: str = "", sender: str = "ada@example.org",
              content_type: str = "text/plain") -> bytes:
    return (f"From: {sender}\r\nTo: data@otdi.test\r\nSubject: x\r\n{headers}"
            f"Content-Type: {content_type}\r\n\r\nhello\r\n").encode()


@pytest.mark.parametrize(("headers", "reason"), [
    ("Auto-Submitted: auto-replied\r\n", "auto-submitted"),
    ("Auto-Submitted: auto-generated; type=vacation\r\n", "auto-submitted"),
    ("Auto-Submitted: Auto-Notified (DSN)\r\n", "auto-submitted"),
    ("Precedence: bulk\r\n", "precedence"),
    ("Precedence: List\r\n", "precedence"),
    ("Precedence: junk\r\n", "precedence"),
    ("List-Id: <datasets.example.org>\r\n", "list-id"),
    ("List-Unsubscribe: <mailto:leave@example.org>\r\n", "list-unsubscribe"),
    ("X-Auto-Response-Suppress: OOF, AutoReply\r\n", "x-auto-response-suppress"),
    ("X-Autoreply: yes\r\n", "x-autoreply"),
])
def test_robot_headers(headers: str, reason: str) -> None:
    assert robot_reason(parse_message(mail_with(headers)), "ada@example.org") == reason


@pytest.mark.parametrize("sender", ["MAILER-DAEMON@mx.example.org", "postmaster@example.org",
                                    "no-reply@example.org", "noreply@example.org",
                                    "do-not-reply@example.org", "bounces+123@example.org"])
def test_robot_senders(sender: str) -> None:
    assert robot_reason(parse_message(mail_with(sender=sender)), sender) == "robot-sender"


def test_people_are_not_robots() -> None:
    mail = parse_message(mail_with("Auto-Submitted: no\r\nPrecedence: normal\r\n"))
    assert robot_reason(mail, "ada@example.org") is None
    assert robot_reason(parse_message(mail_with(sender="noreen@example.org")),
                        "noreen@example.org") is None


def test_a_null_sender_or_a_report_is_a_robot() -> None:
    assert robot_reason(parse_message(mail_with()), "") == "null-sender"
    assert robot_reason(parse_message(mail_with()), "<>") == "null-sender"
    report = mail_with(content_type='multipart/report; report-type=delivery-status; boundary="R"')
    assert robot_reason(parse_message(report), "ada@example.org") == "report"


def test_a_delivery_status_notification_is_read() -> None:
    from tests.mail.test_resilience import _bounce

    bounce = delivery_report(parse_message(_bounce("<otdi.abc@otdi.test>", "ada@example.org")))
    assert bounce is not None
    assert bounce.original_message_ids == ("<otdi.abc@otdi.test>",)
    assert bounce.recipients == ("ada@example.org",)
    assert (bounce.action, bounce.status) == ("failed", "5.1.1")
    assert "user unknown" in bounce.diagnostic
    assert delivery_report(parse_message(mail_with())) is None
