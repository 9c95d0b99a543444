"""fieldcrm.ui.panels package."""
