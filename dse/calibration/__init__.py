"""Measure this machine, and fit a hardware profile's coefficients to the measurements.

``measure`` (time and energy per image over a grid of designs) -> ``calibrate``
(non-negative least squares, leave-one-size-out error, a new profile file).
"""
