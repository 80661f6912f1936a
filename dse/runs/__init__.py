"""Workflows that produce and read run folders.

``train`` (train, assign labels, test), ``readout`` (label assignment, accuracy,
Wilson intervals, confusion), ``quantize`` (PTQ of a finished run), ``sweep``
(accuracy versus bit-width), ``bench`` (images/s), ``folder`` (a run folder:
manifest, atomic writes, code version), ``image`` (the weights as a PNG grid).
"""
