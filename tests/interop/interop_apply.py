#!/usr/bin/env python
"""Interop checks of `oauthctl apply` against the real django-oauth-toolkit 3.4.1 (Django 5.2).

Run by run.sh on the Django-migrated database, after interop.py's django-db phase:

  interop_apply.py --results FILE

After every apply, Django loads every application of the manifest, `full_clean()` passes,
`check_password` accepts the current secret (or the unhashed secret is stored as is), and the
client-credentials entries get a token from DOT's /o/token/. Between applies: a re-run changes
nothing, a new secret rotates (the old one stops working), a changed redirect URI is updated,
and `--prune` deletes an application with its tokens as DOT's own delete would.

Same environment and output as interop.py (it reuses that module's helpers).
"""
import argparse
import json
import os
import secrets
import sys
import tempfile
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from interop import (  # noqa: E402  (sets Django up)
    AccessToken,
    Application,
    RefreshToken,
    Suite,
    check_password,
    client_credentials_checks,
    eq,
    oauthctl,
    token_request,
)
from django.contrib.auth import get_user_model  # noqa: E402

CC_ARGON2 = "apply-cc-argon2"
CC_PBKDF2 = "apply-cc-pbkdf2"
WEB = "apply-web"
HS256 = "apply-hs256"
GENERATED = "apply-generated"
DOOMED = "apply-doomed"


def manifest(secret_file, web_uris, with_doomed):
    entries = [
        {"client_id": CC_ARGON2, "name": "Apply CC argon2", "client_type": "confidential",
         "authorization_grant_type": "client-credentials", "client_secret_env": "APPLY_CC_ARGON2_SECRET",
         "hasher": "argon2"},
        {"client_id": CC_PBKDF2, "client_type": "confidential", "authorization_grant_type": "client-credentials",
         "client_secret_file": secret_file, "hasher": "pbkdf2_sha256", "user": "apply-user"},
        {"client_id": WEB, "name": "Apply 'web' \"app\"; --", "client_type": "public",
         "authorization_grant_type": "authorization-code", "redirect_uris": web_uris,
         "post_logout_redirect_uris": ["https://web.example.com/bye"],
         "allowed_origins": ["https://web.example.com"], "skip_authorization": True, "algorithm": "RS256"},
        {"client_id": HS256, "client_type": "confidential", "authorization_grant_type": "client-credentials",
         "algorithm": "HS256", "hash_client_secret": False, "client_secret_env": "APPLY_HS256_SECRET"},
        {"client_id": GENERATED, "client_type": "confidential", "authorization_grant_type": "client-credentials",
         "hasher": "pbkdf2_sha256"},
    ]
    if with_doomed:
        entries.append({"client_id": DOOMED, "client_type": "confidential",
                        "authorization_grant_type": "client-credentials", "client_secret_env": "APPLY_DOOMED_SECRET",
                        "hasher": "pbkdf2_sha256"})
    return json.dumps({"applications": entries})


def run_apply(tmpdir, text, env, *extra):
    path = os.path.join(tmpdir, "manifest.json")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return oauthctl(["apply", path, "--format", "json", *extra], env=env)


def actions(run):
    data = json.loads(run.stdout)
    return {a["client_id"]: a for a in data["applications"]}


def dot_accepts(suite, label, secrets_by_id, token_ids):
    """Django loads each application, full_clean passes, the secret verifies, tokens are issued."""
    for client_id, secret in secrets_by_id.items():
        def loaded(client_id=client_id, secret=secret):
            app = Application.objects.get(client_id=client_id)
            app.full_clean()
            if app.hash_client_secret:
                assert check_password(secret, app.client_secret), "check_password rejects the secret"
            else:
                eq("unhashed secret", app.client_secret, secret)
        suite.check(f"{label}: {client_id}: Django loads it, full_clean() passes, the secret verifies", loaded)
    for client_id in token_ids:
        app = Application.objects.get(client_id=client_id)
        client_credentials_checks(suite, f"{label}: {client_id}", app, secrets_by_id[client_id])


def phase_apply(suite, tmpdir):
    User = get_user_model()
    user, _ = User.objects.get_or_create(username="apply-user")
    secret_file = os.path.join(tmpdir, "pbkdf2-secret")
    with open(secret_file, "w", encoding="utf-8") as f:
        f.write("file-" + secrets.token_hex(16) + "\n")
    file_secret = open(secret_file, encoding="utf-8").read().rstrip("\n")
    env = {
        "APPLY_CC_ARGON2_SECRET": "argon2-" + secrets.token_hex(16),
        "APPLY_HS256_SECRET": "hs256-" + secrets.token_hex(16),
        "APPLY_DOOMED_SECRET": "doomed-" + secrets.token_hex(16),
    }
    uris = ["https://web.example.com/cb", "http://localhost:8000/cb2"]
    others = set(Application.objects.values_list("client_id", flat=True))

    # ---- 1. create
    first = run_apply(tmpdir, manifest(secret_file, uris, True), env)
    ok = suite.check("apply (create) exits 0", lambda: eq("exit code", first.rc, 0) or True)
    if not ok:
        print("      " + first.describe(), flush=True)
        return
    created = actions(first)
    generated = created[GENERATED].get("client_secret")
    suite.check("apply prints the generated secrets (entries without a reference), and no other",
                lambda: (eq("creates", {k for k, a in created.items() if a["action"] == "create"}, set(created)),
                         eq("secrets shown", [k for k, a in created.items() if "client_secret" in a], [WEB, GENERATED])))
    current = {CC_ARGON2: env["APPLY_CC_ARGON2_SECRET"], CC_PBKDF2: file_secret, WEB: created[WEB].get("client_secret"),
               HS256: env["APPLY_HS256_SECRET"], GENERATED: generated, DOOMED: env["APPLY_DOOMED_SECRET"]}
    checked = {k: v for k, v in current.items() if v is not None}
    dot_accepts(suite, "after create", checked, [CC_ARGON2, CC_PBKDF2, GENERATED, DOOMED])
    suite.check("user given by username is the Django user",
                lambda: eq("user", Application.objects.get(client_id=CC_PBKDF2).user_id, user.pk))
    suite.check("lists are stored space-separated, as DOT reads them",
                lambda: eq("redirect_uris", Application.objects.get(client_id=WEB).redirect_uris, " ".join(uris)))

    # ---- 2. re-run: nothing changes
    before = {a.client_id: (a.updated, a.client_secret) for a in Application.objects.all()}
    again = run_apply(tmpdir, manifest(secret_file, uris, True), env)
    suite.check("re-apply: every entry unchanged, nothing written",
                lambda: (eq("exit code", again.rc, 0),
                         eq("actions", {a["action"] for a in actions(again).values()}, {"unchanged"}),
                         eq("rows", {a.client_id: (a.updated, a.client_secret) for a in Application.objects.all()}, before)))
    check = run_apply(tmpdir, manifest(secret_file, uris, True), env, "--check")
    suite.check("apply --check on a matching database exits 0", lambda: eq("exit code", check.rc, 0))

    # ---- 3. rotate a secret and change a redirect URI
    old_secret = env["APPLY_CC_ARGON2_SECRET"]
    env["APPLY_CC_ARGON2_SECRET"] = "argon2-rotated-" + secrets.token_hex(16)
    new_uris = ["https://web.example.com/cb", "https://web.example.com/new"]
    drift = run_apply(tmpdir, manifest(secret_file, new_uris, True), env, "--check")
    suite.check("apply --check with changes pending exits 5", lambda: eq("exit code", drift.rc, 5))
    web_before = Application.objects.get(client_id=WEB)
    changed = run_apply(tmpdir, manifest(secret_file, new_uris, True), env)

    def rotated():
        eq("exit code", changed.rc, 0)
        acts = actions(changed)
        eq("argon2 entry", acts[CC_ARGON2].get("secret"), "rotated")
        eq("web entry", list(acts[WEB]["changes"]), ["redirect_uris"])
        app = Application.objects.get(client_id=CC_ARGON2)
        assert check_password(env["APPLY_CC_ARGON2_SECRET"], app.client_secret), "new secret rejected"
        assert not check_password(old_secret, app.client_secret), "old secret still verifies"
        r = token_request({"grant_type": "client_credentials"}, CC_ARGON2, old_secret)
        eq("old secret at /o/token/", r.status_code, 401)
        web = Application.objects.get(client_id=WEB)
        eq("redirect_uris", web.redirect_uris, " ".join(new_uris))
        eq("created", web.created, web_before.created)
        assert web.updated > web_before.updated, "updated did not move"
        assert "argon2-rotated" not in changed.stdout, "the secret was printed"
    suite.check("apply rotates the changed secret and updates the changed redirect URI", rotated)
    current[CC_ARGON2] = env["APPLY_CC_ARGON2_SECRET"]
    checked[CC_ARGON2] = current[CC_ARGON2]
    dot_accepts(suite, "after rotation", checked, [CC_ARGON2])

    # ---- 4. prune: the doomed application and its tokens go, as DOT's delete() takes them
    doomed = Application.objects.get(client_id=DOOMED)
    r = token_request({"grant_type": "client_credentials"}, DOOMED, current[DOOMED])
    suite.check("the doomed application has a token", lambda: eq("status", r.status_code, 200))
    listed = [CC_ARGON2, CC_PBKDF2, WEB, HS256, GENERATED]
    kept_tokens = AccessToken.objects.filter(application__client_id__in=listed).count()
    no_prune = run_apply(tmpdir, manifest(secret_file, new_uris, False), env)
    suite.check("without --prune an unlisted application stays",
                lambda: (eq("exit code", no_prune.rc, 0), eq("exists", Application.objects.filter(client_id=DOOMED).exists(), True)))
    pruned = run_apply(tmpdir, manifest(secret_file, new_uris, False), env, "--prune")

    def prune():
        eq("exit code", pruned.rc, 0)
        deleted = {k for k, a in actions(pruned).items() if a["action"] == "delete"}
        eq("deleted", deleted, others | {DOOMED})
        eq("doomed app", Application.objects.filter(client_id=DOOMED).exists(), False)
        eq("its access tokens", AccessToken.objects.filter(application_id=doomed.id).count(), 0)
        eq("its refresh tokens", RefreshToken.objects.filter(application_id=doomed.id).count(), 0)
        kept = set(Application.objects.values_list("client_id", flat=True))
        eq("remaining", kept, set(listed))
        eq("tokens of the listed applications", AccessToken.objects.filter(application__client_id__in=listed).count(), kept_tokens)
        eq("tokens of no application left", AccessToken.objects.filter(application_id__isnull=False).exclude(application__client_id__in=listed).count(), 0)
    suite.check("apply --prune deletes unlisted applications with their tokens", prune)
    del checked[DOOMED]
    dot_accepts(suite, "after prune", checked, [CC_ARGON2, CC_PBKDF2, GENERATED])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    opts = ap.parse_args()
    suite = Suite("apply")
    with tempfile.TemporaryDirectory(prefix="oauthctl-interop-apply-") as tmpdir:
        try:
            phase_apply(suite, tmpdir)
        except Exception as exc:  # noqa: BLE001 - a crash of the harness is a failure, not a pass
            suite.record("harness", False, f"crashed: {exc!r}\n{traceback.format_exc()}")
    with open(opts.results, "a", encoding="utf-8") as f:
        f.write(f"{suite.passed} {len(suite.failed)}\n")
        for label in suite.failed:
            f.write(f"# {label}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
