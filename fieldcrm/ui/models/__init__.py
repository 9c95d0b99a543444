"""fieldcrm.ui.models package."""
