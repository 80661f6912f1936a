"""The design recipes (one TOML file each), and their names: the one design list.

Kept free of imports so the CLI can list the designs without loading the simulator.
"""

DESIGNS = ("baseline", "sl-stdp", "fspinn")
