"""fieldcrm.commands package."""
