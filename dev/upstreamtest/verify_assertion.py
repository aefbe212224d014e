"""Verify a vmware-cis-assertion as an upstream in Python does, with PyJWT
and nothing but the service's JWKS URL and the audience.

    verify_assertion.py JWKS_URL AUDIENCE TOKEN

Prints the verified claims as JSON; exits 1 with the reason when the token
does not verify. Run with /usr/bin/python3 (Debian's python3-jwt)."""
import json
import sys

import jwt

jwks_url, audience, token = sys.argv[1:4]
try:
    key = jwt.PyJWKClient(jwks_url).get_signing_key_from_jwt(token)
    claims = jwt.decode(token, key.key, algorithms=["ES256"], audience=audience,
                        options={"require": ["iss", "aud", "sub", "idp", "sid", "iat", "exp"]})
except Exception as e:  # any failure is a refusal
    print(f"{type(e).__name__}: {e}", file=sys.stderr)
    sys.exit(1)
print(json.dumps(claims))
