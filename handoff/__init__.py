"""Conversation storage, the handoff queue and the agents' desks."""
