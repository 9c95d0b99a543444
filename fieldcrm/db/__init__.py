"""fieldcrm.db package."""
