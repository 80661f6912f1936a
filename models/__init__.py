"""The spiking network: parameters, recipes, encoders, learning rules and engines.

This folder sits at the top of the repository but installs as ``dse.models``
(see ``[tool.setuptools.package-dir]`` in pyproject.toml): import it as
``from dse.models import ...``. It imports nothing from the rest of ``dse``;
everything else builds on it (data -> models -> runs -> cost -> search -> report).
"""
