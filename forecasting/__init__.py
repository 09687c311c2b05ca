"""Google Trends forecasting: versioned series store, sources, refresh and models."""

__version__ = "0.1.0"
