"""fieldcrm.sync.server package."""
