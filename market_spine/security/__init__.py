"""Who may read what: identities (API keys, OIDC bearer JWTs), roles and dataset scopes, and the
limits each identity is held to. Imports nothing of the domains; the API wires it in."""
