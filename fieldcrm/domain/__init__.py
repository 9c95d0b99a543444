"""Domain types of fieldcrm: frozen dataclasses, enums, ids and rules (stdlib only)."""
