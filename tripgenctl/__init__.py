"""tripgenctl: operate the TripGen development environment on AKS."""

__version__ = "0.1.0"
