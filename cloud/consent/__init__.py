"""Consent: the ledger of what each customer allows its data to be used for, its export and its erasure."""
