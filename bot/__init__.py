"""The Slack front door: Slack events and actions in, core turns; core replies out as Web API calls.

The adapter only translates. What a contributor is asked, and whether an answer is
right, is decided by ``core``; this package turns Slack's payloads into ``Inbound``
events and the core's stored replies into Block Kit messages delivered by the outbox.
"""
