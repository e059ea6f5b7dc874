#!/usr/bin/env python3
"""A mock of Google's OAuth 2.0 token endpoint and of a Compute Engine metadata server (standard library and the openssl command only).

    python3 tests/mock/google_oauth_mock.py --port 0 --port-file F --secret S \\
        --public-key sa.pub.pem --client-email svc@p.iam.gserviceaccount.com --key-id kid1 \\
        --client-id cid --client-secret csecret --refresh-token rtok [--lifetime 3599]

Binds 127.0.0.1 only. The Vertex AI routes of gemini_mock.py and anthropic_mock.py take the
tokens it issues (valid_token(), with the same --secret).

    POST /token      application/x-www-form-urlencoded, as Google's token endpoint takes it:
                     - grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWT>
                       (a service account): the JWT's header must be {"alg":"RS256","typ":"JWT",
                       "kid":<--key-id>}, its claims iss = --client-email, aud =
                       https://oauth2.googleapis.com/token, scope = .../auth/cloud-platform,
                       exp = iat + 3600 and iat within five minutes of now; its RS256 signature
                       is checked with `openssl dgst -sha256 -verify --public-key`. Failures are
                       400 {"error":"invalid_grant","error_description":"Invalid JWT
                       Signature."} (and the like), as Google answers.
                     - grant_type=refresh_token&client_id&client_secret&refresh_token (gcloud's
                       authorized_user): a wrong client is 401 invalid_client, a wrong refresh
                       token 400 invalid_grant.
                     -> {"access_token": "ya29.mock.<exp>.<nonce>.<hmac>", "expires_in": --lifetime,
                        "token_type": "Bearer"}
    GET  /computeMetadata/v1/instance/service-accounts/default/token
                     the metadata server's: the header Metadata-Flavor: Google is required (else
                     403); the same answer.
    GET  /_mock/requests   every request (grant types recorded, never the secrets' values)
"""
import base64
import hashlib
import hmac
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mockserve  # noqa: E402

AUDIENCE = "https://oauth2.googleapis.com/token"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
METADATA_TOKEN = "/computeMetadata/v1/instance/service-accounts/default/token"


def issue(secret, lifetime):
    """A new token each time (as Google's), even within one second: a nonce."""
    signed = "%d.%s" % (int(time.time()) + lifetime, secrets.token_hex(4))
    mac = hmac.new(secret.encode(), signed.encode(), hashlib.sha256).hexdigest()[:32]
    return "ya29.mock.%s.%s" % (signed, mac)


def valid_token(secret, authorization):
    """Whether an Authorization header carries a token issued with secret that has not
    expired."""
    if not authorization or not authorization.startswith("Bearer "):
        return False
    parts = authorization[7:].split(".")
    if len(parts) != 5 or parts[:2] != ["ya29", "mock"] or not parts[2].isdigit():
        return False
    signed = "%s.%s" % (parts[2], parts[3])
    mac = hmac.new(secret.encode(), signed.encode(), hashlib.sha256).hexdigest()[:32]
    return hmac.compare_digest(mac, parts[4]) and int(parts[2]) > time.time()


def unb64url(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class Refused(Exception):
    def __init__(self, status, error, description):
        super().__init__(description)
        self.status, self.error, self.description = status, error, description


class Handler(mockserve.MockHandler):
    server_version = "google-oauth-mock/1.0"
    log_name = "google-oauth-mock"

    def send_json(self, status, obj):
        self.send_bytes(status, json.dumps(obj).encode(), "application/json; charset=utf-8")

    def answer_token(self):
        self.send_json(200, {"access_token": issue(self.server.secret, self.server.lifetime),
                             "expires_in": self.server.lifetime, "token_type": "Bearer"})

    def do_GET(self):
        path = urlsplit(self.path).path
        if self.introspect(path):
            return None
        self.record(b"", path=path, flavor=self.headers.get("Metadata-Flavor"))
        if path != METADATA_TOKEN:
            return self.send_json(404, {"error": "not found"})
        if self.headers.get("Metadata-Flavor") != "Google":
            return self.send_bytes(403, b"Missing required header: Metadata-Flavor",
                                   "text/html")
        return self.answer_token()

    def do_POST(self):
        path = urlsplit(self.path).path
        raw = self.read_body()
        if self.introspect(path):
            return None
        form = {k: v[-1] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
        self.record(b"", path=path, grant_type=form.get("grant_type"),
                    content_type=self.headers.get("Content-Type"),
                    extra_header=self.headers.get("X-Extra"))
        if path != "/token":
            return self.send_json(404, {"error": "not found"})
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        try:
            if ctype != "application/x-www-form-urlencoded":
                raise Refused(400, "invalid_request", "Invalid Content-Type")
            grant = form.get("grant_type")
            if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
                self.check_jwt(form.get("assertion", ""))
            elif grant == "refresh_token":
                if (form.get("client_id") != self.server.client_id
                        or form.get("client_secret") != self.server.client_secret):
                    raise Refused(401, "invalid_client", "The OAuth client was not found.")
                if form.get("refresh_token") != self.server.refresh_token:
                    raise Refused(400, "invalid_grant", "Bad Request")
            else:
                raise Refused(400, "unsupported_grant_type", "Invalid grant_type: %s"
                              % (grant or "")[:40])
        except Refused as e:
            return self.send_json(e.status, {"error": e.error,
                                             "error_description": e.description})
        return self.answer_token()

    def check_jwt(self, jwt):
        parts = jwt.split(".")
        if len(parts) != 3:
            raise Refused(400, "invalid_grant", "Invalid JWT: Token must be a short-lived token")
        try:
            header, claims = json.loads(unb64url(parts[0])), json.loads(unb64url(parts[1]))
            sig = unb64url(parts[2])
        except ValueError:
            raise Refused(400, "invalid_grant", "Invalid JWT: not decodable")
        if any("=" in p for p in parts):
            raise Refused(400, "invalid_grant", "Invalid JWT: padded base64")
        if header != {"alg": "RS256", "typ": "JWT", "kid": self.server.key_id}:
            raise Refused(400, "invalid_grant", "Invalid JWT header: %s" % json.dumps(header))
        now = time.time()
        iat, exp = claims.get("iat"), claims.get("exp")
        if claims.get("iss") != self.server.client_email:
            raise Refused(400, "invalid_grant", "Invalid grant: account not found")
        if claims.get("aud") != AUDIENCE or claims.get("scope") != SCOPE:
            raise Refused(400, "invalid_grant", "Invalid JWT: aud or scope")
        if not isinstance(iat, int) or not isinstance(exp, int) or exp - iat != 3600 \
                or abs(iat - now) > 300:
            raise Refused(400, "invalid_grant",
                          "Invalid JWT: Token must be a short-lived token (60 minutes) and in a "
                          "reasonable timeframe. Check your iat and exp values in the JWT claim.")
        with tempfile.TemporaryDirectory() as d:
            data, sigf = os.path.join(d, "data"), os.path.join(d, "sig")
            with open(data, "wb") as f:
                f.write((parts[0] + "." + parts[1]).encode())
            with open(sigf, "wb") as f:
                f.write(sig)
            ok = subprocess.run(["openssl", "dgst", "-sha256", "-verify", self.server.public_key,
                                 "-signature", sigf, data], capture_output=True).returncode == 0
        if not ok:
            raise Refused(400, "invalid_grant", "Invalid JWT Signature.")


def main():
    def args(ap):
        ap.add_argument("--secret", required=True, help="what the tokens are signed with")
        ap.add_argument("--public-key", required=True, help="the service account's public key")
        ap.add_argument("--client-email", required=True)
        ap.add_argument("--key-id", required=True)
        ap.add_argument("--client-id", default="cid.apps.googleusercontent.com")
        ap.add_argument("--client-secret", default="mock-client-secret")
        ap.add_argument("--refresh-token", default="1//mock-refresh-token")
        ap.add_argument("--lifetime", type=int, default=3599, help="expires_in, in seconds")

    srv, a = mockserve.start(Handler, __doc__, args)
    for k in ("secret", "public_key", "client_email", "key_id", "client_id", "client_secret",
              "refresh_token", "lifetime"):
        setattr(srv, k, getattr(a, k))
    mockserve.serve(srv, a, "google_oauth_mock")


if __name__ == "__main__":
    main()
