"""OTDI Intake core: fields, conversation, card checks, storage, outbox. No Slack or SMTP here."""
