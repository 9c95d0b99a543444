"""fieldcrm: an offline-first desktop CRM for field sales."""

__version__ = "0.1.0"
