"""The practitioner's call script: a small Jinja template, rendered for each client on the list.

Practitioners write their own template (`Practitioner.script_template`); the
defaults below, one per language, are used when they have none. Templates run
in Jinja's immutable sandbox with no globals, so a template can only read the
variables given to it. A template that fails (syntax error, unknown variable)
never breaks the list: the default script is shown and the error is reported
next to it, so the practitioner can fix it.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from babel.dates import format_time, get_day_names
from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError, Undefined, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from outreach.models import Client, Practice, Practitioner
from outreach.services.phones import client_zone
from outreach.services.reading.names import mended_without_name

MAX_TEMPLATE_LENGTH = 4000

# The practitioner's own habit: a statement, introducing themselves formally, then the name they
# go by at work, then why they call. Without a preferred name that sentence is left out: each
# language has the script with it and the one without, so the text a practitioner edits stays plain.
# On a number a family shares, whoever answers may not be the client: the script says whose visit it is.
DEFAULT_TEMPLATES = {
    "en": (
        "{% if phone_shared %}Hello, this is {{ practitioner_formal_name }} from {{ practice_name }} — "
        "at work I ask people to call me {{ practitioner_preferred_name }}. "
        "I'm calling about {{ client_first_name }}'s visit with me on {{ visit_when }}. "
        "{% else %}Hello {{ client_first_name }}, this is {{ practitioner_formal_name }} from {{ practice_name }} — "
        "at work I ask people to call me {{ practitioner_preferred_name }}. "
        "I see you're booked with me on {{ visit_when }}. {% endif %}"
        "I like to call ahead to introduce myself and ask if you have any questions before the visit."
    ),
    "ru": (
        "{% if phone_shared %}Здравствуйте! Это {{ practitioner_formal_name }}, {{ practice_name }}. "
        "На работе я прошу называть меня {{ practitioner_preferred_name }}. "
        "Звоню насчёт визита ко мне {{ visit_when }}: записан(а) {{ client_first_name }}. "
        "{% else %}Здравствуйте, {{ client_first_name }}! Это {{ practitioner_formal_name }}, {{ practice_name }}. "
        "На работе я прошу называть меня {{ practitioner_preferred_name }}. "
        "Вижу, что вы записаны ко мне {{ visit_when }}. {% endif %}"
        "Я всегда звоню заранее, чтобы познакомиться и спросить, есть ли у вас вопросы перед визитом."
    ),
}
DEFAULT_TEMPLATES_WITHOUT_PREFERRED_NAME = {
    "en": (
        "{% if phone_shared %}Hello, this is {{ practitioner_formal_name }} from {{ practice_name }}. "
        "I'm calling about {{ client_first_name }}'s visit with me on {{ visit_when }}. "
        "{% else %}Hello {{ client_first_name }}, this is {{ practitioner_formal_name }} from {{ practice_name }}. "
        "I see you're booked with me on {{ visit_when }}. {% endif %}"
        "I like to call ahead to introduce myself and ask if you have any questions before the visit."
    ),
    "ru": (
        "{% if phone_shared %}Здравствуйте! Это {{ practitioner_formal_name }}, {{ practice_name }}. "
        "Звоню насчёт визита ко мне {{ visit_when }}: записан(а) {{ client_first_name }}. "
        "{% else %}Здравствуйте, {{ client_first_name }}! Это {{ practitioner_formal_name }}, {{ practice_name }}. "
        "Вижу, что вы записаны ко мне {{ visit_when }}. {% endif %}"
        "Я всегда звоню заранее, чтобы познакомиться и спросить, есть ли у вас вопросы перед визитом."
    ),
}
ALL_DEFAULT_TEMPLATES = (*DEFAULT_TEMPLATES.values(), *DEFAULT_TEMPLATES_WITHOUT_PREFERRED_NAME.values())

# The names a template may use, in the order the settings page lists them.
VARIABLES = (
    "client_first_name",
    "practitioner_formal_name",
    "practitioner_full_name",
    "practitioner_preferred_name",
    "practice_name",
    "visit_when",
    "visit_weekday",
    "visit_time",
    "days_until_visit",
    "phone_shared",
)

class _ScriptEnvironment(ImmutableSandboxedEnvironment):
    """A sandbox for a few sentences: nothing in a script can make text grow without bound.

    Text only grows by reusing what was computed (loops, set, with, macros:
    refused by `_refuse_repetition`) or by a number (`"x" * 10**9`,
    `"%9999999d" % 1`, `"x".ljust(10**9)`, `9**9**9`: refused here), so
    rendering a script stays as cheap as its 4,000 characters, whoever wrote it.
    """

    intercepted_binops = frozenset(["*", "**", "%"])

    def call_binop(self, context, operator, left, right):
        if operator == "**" or not all(isinstance(v, (int, float)) for v in (left, right)):
            raise SecurityError(f"'{operator}' is not available in a call script")
        return super().call_binop(context, operator, left, right)

    def call(self, __context, __obj, *args, **kwargs):
        if isinstance(__obj, Undefined):  # says which name is unknown
            return super().call(__context, __obj, *args, **kwargs)
        raise SecurityError("calling methods is not available in a call script; filters such as |upper are")


# Statements that repeat or reuse text: a script says its sentences once.
_REPEATING_NODES = (nodes.For, nodes.Macro, nodes.CallBlock, nodes.Assign, nodes.AssignBlock, nodes.With)
# Filters that only reshape what is there.
_FILTERS = ("capitalize", "lower", "upper", "title", "trim", "default", "d", "escape", "e", "first", "last",
            "length", "string")

_environment = _ScriptEnvironment(undefined=StrictUndefined, autoescape=False)
# No range(), dict(), lipsum() ...: a script only needs the variables it is given.
_environment.globals.clear()
_environment.filters = {name: _environment.filters[name] for name in _FILTERS}


def _refuse_repetition(source: str) -> None:
    for node in _environment.parse(source).find_all(_REPEATING_NODES):
        raise TemplateError(f"line {node.lineno}: loops, set, with and macros are not available in a call script")


_compiled_defaults = {
    (language, with_preferred_name): _environment.from_string(source)
    for with_preferred_name, sources in ((True, DEFAULT_TEMPLATES), (False, DEFAULT_TEMPLATES_WITHOUT_PREFERRED_NAME))
    for language, source in sources.items()
}


def language_of(locale: str | None) -> str:
    """The language of `locale` that scripts are written in ("ru_RU" -> "ru"); English otherwise."""
    language = (locale or "en").replace("-", "_").split("_")[0].lower()
    return language if language in DEFAULT_TEMPLATES else "en"


def visit_when(local_start: dt.datetime, locale: str) -> str:
    """The visit's weekday and time as one would say it: "Tuesday at 2:00 PM", "во вторник в 14:00"."""
    return _phrase_when(_weekday_name(local_start, locale), _short_time(local_start, locale), locale)


def _weekday_name(local_start: dt.datetime, locale: str) -> str:
    return get_day_names("wide", context="format", locale=locale)[local_start.weekday()]


def _short_time(local_start: dt.datetime, locale: str) -> str:
    return format_time(local_start.time(), "short", locale=locale)


def _phrase_when(weekday: str, time: str, locale: str) -> str:
    if language_of(locale) == "ru":
        return f"{_russian_on(weekday)} в {time}"
    return f"{weekday} at {time}"


def _russian_on(weekday: str) -> str:
    """"on <weekday>" in Russian: the accusative ("среда" -> "среду") after в, or во before в+consonant."""
    accusative = weekday[:-1] + "у" if weekday.endswith("а") else weekday
    preposition = "во" if weekday[0] in "вф" and weekday[1] not in "аеёиоуыэюя" else "в"
    return f"{preposition} {accusative}"


def script_locale(client: Client, practice: Practice) -> str:
    """Scripts speak the client's language when known, else the practice's."""
    return client.locale or practice.locale


def script_variables(
    *, client: Client, practitioner: Practitioner, practice: Practice, visit_starts_at: dt.datetime,
    now: dt.datetime, phone_shared: bool = False,
) -> dict[str, object]:
    """What a template can say, phrased in the client's language and time zone (else the practice's).

    `phone_shared`: the client shares the number with other clients (a family), so whoever answers may be
    someone else; the default scripts then say whose visit the call is about.
    """
    locale = script_locale(client, practice)
    zone = client_zone(client, practice)
    local_start = visit_starts_at.astimezone(zone)
    weekday, time = _weekday_name(local_start, locale), _short_time(local_start, locale)
    return {
        "client_first_name": client.greeting_name,
        "practitioner_formal_name": practitioner.introduced_as,
        "practitioner_full_name": practitioner.full_name,
        # Empty when they have none: the default script then leaves that sentence out.
        "practitioner_preferred_name": practitioner.preferred_name or "",
        "practice_name": practice.name,
        "visit_when": _phrase_when(weekday, time, locale),
        "visit_weekday": weekday,
        "visit_time": time,
        "days_until_visit": (local_start.date() - now.astimezone(zone).date()).days,
        "phone_shared": phone_shared,
    }


@dataclass(frozen=True)
class Script:
    text: str
    # Why the practitioner's own template could not be used (`text` is then the default script).
    error: str | None = None


class ScriptRenderer:
    """One practitioner's template, compiled once and rendered for every client on a list."""

    def __init__(self, template_source: str | None) -> None:
        self.has_own_template = bool(template_source)
        self._template: Template | None = None
        self._compile_error: str | None = None
        if template_source:
            try:
                if len(template_source) > MAX_TEMPLATE_LENGTH:
                    raise TemplateError(f"the script is longer than {MAX_TEMPLATE_LENGTH} characters")
                _refuse_repetition(template_source)
                self._template = _environment.from_string(template_source)
            except TemplateError as exc:
                self._compile_error = _describe(exc)

    def render(self, variables: dict[str, object], locale: str) -> Script:
        script = self._render(variables, locale)
        if variables.get("client_first_name"):
            return script
        return Script(mended_without_name(script.text), script.error)

    def _render(self, variables: dict[str, object], locale: str) -> Script:
        default = _compiled_defaults[language_of(locale), bool(variables.get("practitioner_preferred_name"))]
        if not self.has_own_template:
            return Script(default.render(variables))
        if self._template is None:
            return Script(default.render(variables), self._compile_error)
        try:
            return Script(self._template.render(variables))
        # The template is the practitioner's own code: whatever it raises (an unknown
        # variable, a sandbox refusal, 1/0), the list must still show a script.
        except Exception as exc:
            return Script(default.render(variables), _describe(exc))


def default_source(locale: str, *, with_preferred_name: bool = True) -> str:
    defaults = DEFAULT_TEMPLATES if with_preferred_name else DEFAULT_TEMPLATES_WITHOUT_PREFERRED_NAME
    return defaults[language_of(locale)]


def _describe(exc: Exception) -> str:
    if isinstance(exc, TemplateSyntaxError):
        return f"line {exc.lineno}: {exc.message}"
    if isinstance(exc, TemplateError) and exc.message:
        return exc.message
    return f"{type(exc).__name__}: {exc}"
