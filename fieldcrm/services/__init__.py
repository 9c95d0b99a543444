"""fieldcrm.services package."""
