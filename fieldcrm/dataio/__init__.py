"""fieldcrm.dataio package."""
