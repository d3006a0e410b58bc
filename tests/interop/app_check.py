#!/usr/bin/env python
"""createapplication, accepted by one DOT release: the matrix cell's application check.

  app_check.py --tag LABEL [--results-jsonl FILE --release R --django V --backend B]

Runs under the release's venv python with Django set up for one freshly migrated database
(INTEROP_BACKEND, INTEROP_DB_NAME; INTEROP_DATABASE_URL is the same database as oauthctl's URL).
`oauthctl createapplication confidential client-credentials --format json` (argon2, the default hasher)
runs, and the release's Django must accept what it wrote:
  - the stored hash verifies the secret oauthctl showed (`check_password`),
  - the stored row passes the release's `full_clean()`,
  - the release's `/o/token/` hands out a client_credentials token for that secret.
Then `--no-hash-client-secret`: where the release's model has `hash_client_secret` (2.4+), the secret
is stored as given and the release still accepts the row and the secret; before, oauthctl must refuse
it (exit 2, one line on stderr, nothing written).
Prints one PASS/FAIL line per check; exit 1 on any failure.
"""
import argparse
import json
import os
import subprocess
import sys
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.environ.get("INTEROP_DIR", HERE), "project"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "interop_project.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth.hashers import check_password  # noqa: E402
from oauth2_provider.models import get_access_token_model, get_application_model  # noqa: E402

from interop_lib import token_request  # noqa: E402

Application = get_application_model()
AccessToken = get_access_token_model()


def oauthctl_create(name, *extra, env=None):
    full_env = dict(os.environ, TZ="America/New_York", **(env or {}))
    full_env.pop("DATABASE_URL", None)
    cmd = [os.environ["OAUTHCTL_BIN"], "--database-url", os.environ["INTEROP_DATABASE_URL"], "createapplication",
           "confidential", "client-credentials", "--name", name, "--format", "json", *extra]
    return subprocess.run(cmd, env=full_env, capture_output=True, text=True, timeout=120)


def create(hasher, name):
    p = oauthctl_create(name, "--hasher", hasher)
    assert p.returncode == 0, f"oauthctl createapplication exited {p.returncode}: {p.stderr.strip()[:800]}"
    data = json.loads(p.stdout)
    assert isinstance(data.get("client_secret"), str), f"no generated client_secret in {sorted(data)}"
    return data["client_id"], data["client_secret"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tag", required=True)
    ap.add_argument("--results-jsonl")
    ap.add_argument("--release")
    ap.add_argument("--django")
    ap.add_argument("--backend")
    args = ap.parse_args()
    failed = 0

    def check(name, fn):
        nonlocal failed
        try:
            fn()
            ok, detail = True, ""
        except Exception as e:  # noqa: BLE001 - any exception is a failed check
            ok = False
            detail = f"{type(e).__name__}: {e}" if isinstance(e, AssertionError) else traceback.format_exc(limit=3)
        print(f"PASS [{args.tag}] {name}" if ok else f"FAIL [{args.tag}] {name}: {detail.strip()}", flush=True)
        failed += not ok
        if args.results_jsonl:
            with open(args.results_jsonl, "a", encoding="utf-8") as f:
                f.write(json.dumps(dict(release=args.release, django=args.django, backend=args.backend, check=name,
                                        ok=ok, detail=detail[:500])) + "\n")
        return ok

    # argon2, oauthctl's default, only: pbkdf2_sha256 costs seconds per hash in a debug build, and
    # interop.py checks it in depth on 3.4.1.
    for hasher in ("argon2",):
        made = {}

        def run_create():
            made["id"], made["secret"] = create(hasher, f"matrix {hasher}")

        label = f"createapplication --hasher {hasher}"
        if not check(f"{label}: oauthctl exits 0 with a generated secret", run_create):
            continue

        def verify():
            app = Application.objects.get(client_id=made["id"])
            if hasattr(app, "hash_client_secret"):
                assert app.hash_client_secret, "hash_client_secret is False"
            assert app.client_secret.startswith(hasher + "$"), f"stored secret is not a {hasher} hash"
            assert check_password(made["secret"], app.client_secret), "check_password rejects the shown secret"

        def clean():
            Application.objects.get(client_id=made["id"]).full_clean()

        def token():
            r = token_request({"grant_type": "client_credentials"}, made["id"], made["secret"])
            assert r.status_code == 200, f"HTTP {r.status_code}: {r.content[:300]!r}"
            tok = r.json().get("access_token")
            assert tok, f"no access_token in {r.json()!r}"
            app = Application.objects.get(client_id=made["id"])
            assert AccessToken.objects.filter(token=tok, application=app).count() == 1, "token row not found"

        check(f"{label}: the release's check_password accepts the shown secret", verify)
        check(f"{label}: the release's full_clean() accepts the row", clean)
        check(f"{label}: the release's /o/token/ issues a client_credentials token", token)

    # --no-hash-client-secret: the release's own model says whether it has the column (2.4+).
    plain = "matrix-plain-secret-0123456789abcdefghij"
    if any(f.name == "hash_client_secret" for f in Application._meta.get_fields()):
        def unhashed():
            p = oauthctl_create("matrix plain", "--no-hash-client-secret", "--client-secret-env", "MATRIX_SECRET",
                                env={"MATRIX_SECRET": plain})
            assert p.returncode == 0, f"exit {p.returncode}: {p.stderr.strip()[:800]}"
            app = Application.objects.get(client_id=json.loads(p.stdout)["client_id"])
            assert not app.hash_client_secret and app.client_secret == plain, "secret not stored as given"
            app.full_clean()
            r = token_request({"grant_type": "client_credentials"}, app.client_id, plain)
            assert r.status_code == 200, f"/o/token/: HTTP {r.status_code}: {r.content[:300]!r}"

        check("createapplication --no-hash-client-secret: stored as given, full_clean() and /o/token/ accept it",
              unhashed)
    else:
        def refused():
            before = Application.objects.count()
            p = oauthctl_create("matrix plain", "--no-hash-client-secret", "--client-secret-env", "MATRIX_SECRET",
                                env={"MATRIX_SECRET": plain})
            assert p.returncode == 2, f"exit {p.returncode} (want 2): {p.stderr.strip()[:800]}"
            assert len(p.stderr.strip().splitlines()) == 1, f"not one line on stderr: {p.stderr!r}"
            assert Application.objects.count() == before, "a row was written"

        check("createapplication --no-hash-client-secret on a release without hash_client_secret: exit 2, "
              "one line, nothing written", refused)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
