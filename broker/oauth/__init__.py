"""OAuth 2.0 and JOSE: client authentication, DPoP, access tokens, grants, the token endpoint."""
