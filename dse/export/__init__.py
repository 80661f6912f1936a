"""`dse export`: a quantized run as a self-contained C99 inference library.

Modules: model (what is exported, read from a run folder), codegen (the
generated headers), expected (the engine's answers), writer (the folder,
written atomically), toolchain (host and Cortex-M builds, QEMU), sizes and
report (measured flash/RAM beside the cost model). The command is dse/cli/export.py.
Kept free of imports so that `dse --help` stays fast.
"""
