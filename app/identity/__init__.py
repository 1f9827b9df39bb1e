"""End-user identity: who is calling the api, from a signed ID token.

One verification path for production and the laptop: `TokenVerifier` checks an RS256 token
against a key source, an issuer and an audience. In production the keys are Identity
Platform's published certificates (`RemoteKeys`, cached by their HTTP cache headers) and the
issuer is `https://securetoken.google.com/<project>`; with AUTH_MODE=local they are one key pair
that the api keeps in DATA_DIR (`LocalIssuer`), which also mints tokens for `POST /dev/token`.
`Authenticator` turns a verified token into a `Caller`: the customer it is linked to (a custom
claim), whether it is staff, and the pseudonym that names it in logs.
"""
