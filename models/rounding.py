"""Names of the rounding modes of fixed-point values (FSpiNN Eq. 6, tinySNN Sec. 2.3).

Import-free on purpose: the command line lists them in --help without
loading numpy or numba. models.fixedpoint implements them.
"""

ROUNDING_MODES = ("truncate", "nearest", "stochastic")
