"""fieldcrm.sync package."""
