"""Routes status events from the console Twilio backend to the services that own them.

With real Twilio these arrive as signed webhooks; the console backend of the
embedded default produces the same events in-process so the demo shows the
whole flow.
"""


def apply_console_status(kind: str, params: dict) -> None:
    from outreach.tasks import app_context

    with app_context():
        pass
