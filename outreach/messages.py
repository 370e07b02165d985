"""Messages that services raise for people to read, translated where they are shown.

Services have no Flask: they mark a message for the catalogue with `N_` and carry its
parameters apart, so the web layer can say it in the reader's language
(`outreach.web.formatting.translated`) while the command line prints the English.
"""


def N_(message: str) -> str:
    """Marks `message` for the catalogue (pybabel extract -k N_); translated later, where it is shown."""
    return message


class UserError(ValueError):
    """A readable reason why something people asked for could not be done."""

    def __init__(self, message: str, *, field: str | None = None, **params: object) -> None:
        self.message = message
        self.params = params
        # The form field the reason is about, so a page can show it next to that field.
        self.field = field
        super().__init__(message % params if params else message)
