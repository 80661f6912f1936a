"""The `dse` command line: parse, call the library, print, exit (no logic of its own).

``main`` (the parser and its one dispatch), ``args`` (the shared number types and
flags), ``console`` (rich rendering), and one module per command group.
"""
