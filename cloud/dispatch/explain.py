"""The one-line reason printed with every visit: skill, distance from the previous stop, slack.

The wording lives in the templates below, not in the solver, so it can change (or be translated)
without touching how plans are made.
"""

from __future__ import annotations

from cloud.dispatch.problem import Why

SKILL_TEMPLATE = "has `{skill}`"
NO_SKILL_TEMPLATE = "no special skill needed"
DISTANCE_TEMPLATE = "{km:.1f} km from the previous stop"
FIRST_DISTANCE_TEMPLATE = "{km:.1f} km from home"
SLACK_TEMPLATE = "{span} before the deadline"
LATE_TEMPLATE = "{span} after the deadline"
NO_DEADLINE_TEMPLATE = "no deadline"
LINE_TEMPLATE = "{name}: {skill}, {distance}, {slack}"


def span(seconds: float) -> str:
    """A duration as people say it: `5 h 10 min`, `40 min`, `2 d 3 h`."""
    minutes = round(abs(seconds) / 60.0)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {mins} min"
    return f"{mins} min"


def why(name: str, skill: str | None, distance_km: float, travel_s: float, slack_s: float | None,
        from_home: bool) -> Why:
    """The reason for one visit, with its one-line text."""
    skill_text = SKILL_TEMPLATE.format(skill=skill) if skill else NO_SKILL_TEMPLATE
    distance_text = (FIRST_DISTANCE_TEMPLATE if from_home else DISTANCE_TEMPLATE).format(km=distance_km)
    if slack_s is None:
        slack_text = NO_DEADLINE_TEMPLATE
    elif slack_s >= 0:
        slack_text = SLACK_TEMPLATE.format(span=span(slack_s))
    else:
        slack_text = LATE_TEMPLATE.format(span=span(slack_s))
    text = LINE_TEMPLATE.format(name=name, skill=skill_text, distance=distance_text, slack=slack_text)
    return Why(skill=skill, distance_km=round(distance_km, 3), travel_s=travel_s, slack_s=slack_s, text=text)
