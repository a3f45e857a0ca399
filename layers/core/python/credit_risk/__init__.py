"""Credit risk platform core: contract, features, models, decisions and their adapters."""

__version__ = "0.1.0"
