"""Panels: a part's own figures and warnings, shown on /admin and by `tsunagu report`.

A channel adds one when it has something a support lead must watch that the records do not
hold (a platform's message cost, a setting on the platform's side that needs fixing). The
core draws them without knowing what they measure.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class PanelFigure(BaseModel):
    """One figure of a panel."""

    name: str = Field(description="What it measures, e.g. 'Pushes this month'.")
    value: str = Field(description="The figure as shown, e.g. '164 / 200'.")
    detail: str = Field(default="", description="A line under it.")
    meter: float | None = Field(
        default=None, description="A share to draw as a bar (0-1, may exceed 1); None: none."
    )
    warn: bool = Field(default=False, description="Draw it as needing attention.")


class Panel(BaseModel):
    """A card of figures and warnings about one part (e.g. the LINE channel's cost)."""

    id: str = Field(description="Stable identifier, e.g. 'line-cost'.")
    title: str
    help: str = Field(default="", description="What the figures mean.")
    figures: list[PanelFigure] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list, description="What needs fixing.")
    notes: list[str] = Field(default_factory=list, description="Worth knowing, no action.")
