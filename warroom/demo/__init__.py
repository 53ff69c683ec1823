"""`warroom demo`: the reference campaign, played at rehearsal speed against `serve`.

The supervisor (cli.py) has started the embedded Redis, the web and the worker
processes; here we wait for the web process, create the campaign, print where to
watch (the big screen, the host view, the console and the review), play the simulated
sale through the public API, and print the live figures and each battle report in the
terminal as well.

By concept: `run` (the command), `links` (setup through the API and where to watch),
`fires` (the simulator learns of fires), `terminal` (what is printed, in the screens'
words).
"""

from __future__ import annotations

from warroom.demo.fires import DEFAULT_EFFECT_MINUTES, effect_windows, fire_of, is_fired
from warroom.demo.links import DEMO_HOST_SELLER, create_demo_owner, links_text
from warroom.demo.run import run_demo
from warroom.demo.terminal import (
    clean,
    effect_check_line,
    figures_line,
    lift_line,
    report_line,
    stimulus_line,
)

__all__ = [
    "DEFAULT_EFFECT_MINUTES",
    "DEMO_HOST_SELLER",
    "clean",
    "create_demo_owner",
    "effect_check_line",
    "effect_windows",
    "figures_line",
    "fire_of",
    "is_fired",
    "lift_line",
    "links_text",
    "report_line",
    "run_demo",
    "stimulus_line",
]
