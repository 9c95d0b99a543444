"""fieldcrm.ui package."""
