"""Small reusable widgets: form rows with inline errors, chips, the account timeline."""
