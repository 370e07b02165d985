"""Step 2, split: the file's top-level structure, component by component, with a nesting cap."""
from __future__ import annotations

from dataclasses import dataclass

from outreach.services.ics_import.context import Deadline
from outreach.services.ics_import.report import ImportFailed, ImportLimits


@dataclass
class ComponentText:
    name: str
    first_line: int
    lines: list[str]

    def text(self) -> str:
        return "\r\n".join(self.lines) + "\r\n"

    def uid(self) -> str:
        """The UID written in the component, for reporting one icalendar could not parse."""
        for line in self.lines:
            if line[:4].upper() == "UID:":
                return line[4:].strip()
        return ""


@dataclass
class CalendarText:
    header: list[str]  # the VCALENDAR's own properties (X-WR-TIMEZONE, METHOD, ...)
    components: list[ComponentText]
    bare: bool = False  # components written without a VCALENDAR around them


def split_components(text: str, limits: ImportLimits, deadline: Deadline) -> list[CalendarText]:
    """Cuts the text (as `read_text` gives it: LF line breaks) into calendars and their top-level components,
    each kept as its lines.

    Tolerates what real exports get wrong: a missing END:VCALENDAR, a stray or
    misspelt END line, text before or after the calendar, several calendars
    in one file, events without a calendar around them.
    """
    calendars: list[CalendarText] = []
    open_names: list[str] = []
    component: ComponentText | None = None  # the top-level component being collected
    component_depth = 0
    for number, line in enumerate(text.split("\n"), start=1):
        if number % 10_000 == 0:
            deadline.check("reading the file")
        first = line[:1]
        if component is not None and first and first not in "BbEe" and not first.isspace():
            component.lines.append(line)  # most lines: a property of the component being collected
            continue
        if not line.strip():
            continue
        keyword = line[:6].upper()
        if keyword == "BEGIN:":
            name = line[6:].strip().upper()
            open_names.append(name)
            if len(open_names) > limits.max_nesting:
                raise ImportFailed(
                    f"components are nested more than {limits.max_nesting} deep (line {number}); this is not a "
                    "calendar that can be imported"
                )
            if len(open_names) == 1 and name == "VCALENDAR":
                calendars.append(CalendarText(header=[], components=[]))
            elif component is None and (len(open_names) == 1 or open_names[0] == "VCALENDAR"):
                if len(open_names) == 1 and not (calendars and calendars[-1].bare):
                    calendars.append(CalendarText(header=[], components=[], bare=True))
                component = ComponentText(name=name, first_line=number, lines=[])
                component_depth = len(open_names)
                calendars[-1].components.append(component)
            if component is not None:
                component.lines.append(line)
        elif keyword[:4] == "END:":
            name = line[4:].strip().upper()
            if name not in open_names:
                continue
            # Closes `name` and whatever the file left open inside it.
            while True:
                closed = open_names.pop()
                if component is not None:
                    component.lines.append(f"END:{closed}")
                    if len(open_names) < component_depth:
                        component = None
                if closed == name:
                    break
        elif component is not None:
            component.lines.append(line)
        elif open_names == ["VCALENDAR"]:
            calendars[-1].header.append(line)
    if component is not None:  # the file ended inside a component
        component.lines.extend(f"END:{name}" for name in reversed(open_names[component_depth - 1:]))
    if not any(not c.bare or any(comp.name == "VEVENT" for comp in c.components) for c in calendars):
        raise ImportFailed("this is not an iCalendar file: it has no BEGIN:VCALENDAR or BEGIN:VEVENT")
    return calendars


