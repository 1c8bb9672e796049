"""Identity and access: accounts, sign-in, tokens, API keys, roles and the scope each caller sees."""
