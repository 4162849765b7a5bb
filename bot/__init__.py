"""Tsunagu's core: the message model, the inbox, the dispatcher, FAQ matching and settings."""
