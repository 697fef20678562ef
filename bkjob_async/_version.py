"""The package's version, in a module of its own: any floor may import it (layer: the bottom).

``pyproject.toml`` reads it from here (``[tool.hatch.version]``).
"""

__version__ = "0.1.0"
