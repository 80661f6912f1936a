"""snn-dse: design-space exploration for spiking neural networks on small hardware."""

import logging

# The one version source: pyproject.toml reads it from here (setuptools dynamic metadata).
__version__ = "0.1.0"

# Library messages go to the logger "dse" (and its children); the program that uses the
# library decides where they go. Without a handler of its own, they go nowhere.
logging.getLogger("dse").addHandler(logging.NullHandler())
