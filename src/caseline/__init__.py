"""caseline: puts an incident back together from the tools its evidence landed in."""

__version__ = "0.1.0"
__all__ = ["__version__"]
