"""fieldcrm.geo package."""
