"""The e-mail front door: an SMTP inbox that feeds the core, and replies through the outbox.

``server`` accepts and stores, ``inbox`` decides what each stored message means,
``parsing``/``htmltext``/``robots``/``threads`` read mail, ``delivery``/``compose`` write it.
"""
