"""Urban lifeline safety and resilience monitoring platform."""

__version__ = "0.1.0"
