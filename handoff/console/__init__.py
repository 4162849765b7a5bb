"""The web agent console at `/agent`: the handoff queue and conversations for agents."""

from handoff.console.console import AgentConsole

__all__ = ["AgentConsole"]
