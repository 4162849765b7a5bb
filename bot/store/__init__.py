"""The Redis conversation store and the Lua scripts behind every multi-key transition."""
