"""hivekeeper: run MCP servers isolated, behind one governed gateway."""

__version__ = "0.1.0"

__all__ = ["__version__"]
