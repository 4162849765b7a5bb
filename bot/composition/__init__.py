"""The composition root: the one place that imports every package and wires them together.

`runtime` builds every part from the settings, `app` is the FastAPI factory on top of it and
`cli` the `tsunagu` command line.
"""
