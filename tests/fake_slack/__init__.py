"""A fake Slack for tests: a Web API server on loopback and a client that signs requests.

``FakeSlack`` implements the Web API methods the app calls (shapes as in Slack's
documentation), records every call, serves file downloads (an HTML login page
without the bot token, as Slack does) and can answer 429, 500 or slowly on demand.
``SlackSender`` sends correctly signed events, actions, commands and view submissions
to the app, like Slack would.
"""

from tests.fake_slack.sender import SlackSender
from tests.fake_slack.server import Call, FakeSlack

__all__ = ["Call", "FakeSlack", "SlackSender"]
