#!/usr/bin/env python3
"""A stand-in upstream for the front door: it prints every call it receives,
with each header line as sent, and answers 200 with a small JSON body.

    python3 dev/upstream/standin.py [PORT] [JWKS_URL AUDIENCE]

With a JWKS URL and an audience (and PyJWT importable, as Debian's
python3-jwt is for /usr/bin/python3), it also verifies the call's
vmware-cis-assertion as an upstream would and prints its claims, or why it
does not verify. Loopback only; for trying the service, not for serving.
See docs/UPSTREAM.md."""
import http.server
import json
import sys

port = int(sys.argv[1]) if len(sys.argv) > 1 else 8081
jwks_url, audience = (sys.argv[2], sys.argv[3]) if len(sys.argv) > 3 else (None, None)


def verify(token):
    import jwt  # PyJWT

    key = jwt.PyJWKClient(jwks_url).get_signing_key_from_jwt(token)
    return jwt.decode(token, key.key, algorithms=["ES256"], audience=audience)


class StandIn(http.server.BaseHTTPRequestHandler):
    def handle_one_request(self):
        try:
            super().handle_one_request()
        except ConnectionError:
            pass

    def serve(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        print(f"--- {self.command} {self.path}", flush=True)
        for name, value in self.headers.raw_items():  # as sent, every line
            print(f"{name}: {value}")
        if body:
            print(body.decode("utf-8", "replace"))
        token = self.headers.get("vmware-cis-assertion")
        if token and jwks_url:
            try:
                print("assertion verified:", json.dumps(verify(token)))
            except Exception as e:  # noqa: BLE001 - any failure is a refusal
                print(f"assertion REFUSED: {type(e).__name__}: {e}")
        out = b'{"value":"from the stand-in upstream"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = serve

    def log_message(self, *args):
        pass


print(f"stand-in upstream on http://127.0.0.1:{port}", flush=True)
http.server.ThreadingHTTPServer(("127.0.0.1", port), StandIn).serve_forever()
