"""Cost model: hardware profiles, memory, time and energy.

profiles (device data) -> quant (--quant specs) -> structure (design facts from the recipes)
-> memory, activity (per-image counts) -> energy (time and energy) -> model (one report)
-> compare (rows of `dse compare-hw`). All pure; files are read only by the loaders.
"""

# The two phases every memory, time and energy figure is given for.
PHASES = ("inference", "training")
