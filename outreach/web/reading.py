"""Why the importer read a visit as it did, in the viewer's language (the `why` of an appointment)."""
from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

LAYOUT_LABELS = {
    "auto": _l("work it out from the titles"),
    "name - service": _l("the client comes before the dash"),
    "service - name": _l("the client comes after the dash"),
    "name": _l("the whole title is the client"),
}
PLACE_LABELS = {
    "always": _l("always at the client's place"),
    "never": _l("never at the client's place"),
    "decide": _l("decide from the location"),
}
_FROM = {"description": _l("the description"), "title": _l("the title"), "location": _l("the location"),
         "attendee": _l("an attendee")}


def explain(why: dict[str, Any] | None) -> list[str]:
    """One sentence per fact: where the name, phone and e-mail came from, why the place, why (not) a first visit."""
    why = why or {}
    lines = []
    if client := why.get("client"):
        lines.append(_("Client set by %(who)s.", who=client.get("detail") or _("staff")))
    if cancelled := why.get("cancelled"):
        lines.append(_("Cancelled: the title says “%(word)s”.", word=cancelled.get("detail", "")))
    if not_a_visit := why.get("not_a_visit"):
        lines.append(_("Not a visit: the title says “%(word)s”.", word=not_a_visit.get("detail", "")))
    for field, label in (("name", _("Name")), ("phone", _("Phone")), ("email", _("E-mail"))):
        if fact := why.get(field):
            lines.append(_explain_source(label, fact))
    if layout := why.get("layout"):
        how = LAYOUT_LABELS.get(layout.get("detail"), layout.get("detail"))
        if layout.get("source") == "learned":
            lines.append(_("In this calendar %(how)s (learned from %(n)s titles).", how=how, n=layout.get("titles")))
        else:
            lines.append(_("In this calendar %(how)s (set by staff).", how=how))
    if place := why.get("place"):
        lines.append(_explain_place(place))
    if new := why.get("new_client"):
        if new.get("source") == "no_new_client_mark":
            lines.append(_("Not a new client: this calendar marks new clients and this visit has no mark."))
        else:
            lines.append(_("New-client mark from the booking tool: “%(mark)s”.", mark=new.get("detail", "")))
    return lines


def _explain_source(label: str, fact: dict[str, Any]) -> str:
    source = fact.get("source")
    if source == "description" and fact.get("detail"):
        return _("%(field)s from “%(label)s:” in the description.", field=label, label=fact["detail"])
    if source == "title" and fact.get("detail") in LAYOUT_LABELS:
        return _("%(field)s from the title (%(how)s).", field=label, how=LAYOUT_LABELS[fact["detail"]])
    if source == "title" and fact.get("detail") == "invitee and host":
        return _("%(field)s from the title (the invitee, not the host).", field=label)
    return _("%(field)s from %(where)s.", field=label, where=_FROM.get(source, source))


def _explain_place(place: dict[str, Any]) -> str:
    source = place.get("source")
    if source == "setting":
        return _("Place: the calendar is set to “%(setting)s”.", setting=PLACE_LABELS.get(place.get("detail"), ""))
    if source == "staff":
        return _("Place set by %(who)s.", who=place.get("detail") or _("staff"))
    if source == "address":
        return _("At the client's place: the location reads like a street address.")
    if source == "says_client_place":
        return _("At the client's place: the location says so.")
    if source == "practice_address":
        return _("At the practice: the location is the practice's own address.")
    if source == "practice_name":
        return _("At the practice: the location names the practice.")
    if source == "online":
        return _("Not at the client's place: the location is online or a phone call.")
    if source == "not_a_visit":
        return _("Not at the client's place: this is not a visit.")
    if source == "no_client":
        return _("Not at the client's place: no client yet.")
    if source == "no_location":
        return _("Not at the client's place: the event has no location.")
    return _("Not at the client's place: the location is not a street address.")
