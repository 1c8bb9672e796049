"""Personalised offers: rules propose drafts from a customer's data (under its consent), a planner decides, the
customer answers."""
