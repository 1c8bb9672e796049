"""The audit trail: who changed what, when, from where, with the state before and after."""
