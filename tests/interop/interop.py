#!/usr/bin/env python
"""Interop checks between oauthctl and the real django-oauth-toolkit 3.4.1 (Django 5.2).

Run by run.sh, once per database:

  interop.py django-db  --results FILE   # DB migrated by Django's `migrate`, with a Django user
  interop.py oauthctl-db --results FILE  # empty DB that `oauthctl migrate` creates (no Django migrate)

Environment: INTEROP_BACKEND, INTEROP_DB_NAME (read by the Django settings), INTEROP_DATABASE_URL
(the same database as an oauthctl URL), OAUTHCTL_BIN, OIDC_RSA_PRIVATE_KEY.

Prints one line per check ("PASS ..." / "FAIL ...: why") and appends "<passed> <failed>" to FILE.
"""
import argparse
import base64
import hashlib
import io
import json
import logging
import os
import re
import secrets
import string
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse
import uuid
from datetime import datetime, timedelta, timezone as dt_timezone

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "project"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "interop_project.settings")

import warnings  # noqa: E402

import django  # noqa: E402

django.setup()
# DOT 3.4 warns on every password grant (RFC 9700); the suite exercises that grant on purpose.
warnings.filterwarnings("ignore", message=".*discouraged by RFC 9700.*")
logging.getLogger("oauth2_provider").addFilter(lambda record: "discouraged by RFC 9700" not in record.getMessage())

from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.hashers import check_password, get_hasher, identify_hasher  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402
from interop_lib import token_request  # noqa: E402
from oauth2_provider.models import (  # noqa: E402
    get_access_token_model,
    get_application_model,
    get_grant_model,
    get_id_token_model,
    get_refresh_token_model,
)

Application = get_application_model()
AccessToken = get_access_token_model()
RefreshToken = get_refresh_token_model()
IDToken = get_id_token_model()
Grant = get_grant_model()

BACKEND = os.environ["INTEROP_BACKEND"]
DB_URL = os.environ["INTEROP_DATABASE_URL"]
OAUTHCTL = os.environ["OAUTHCTL_BIN"]
ALNUM = re.compile(r"\A[A-Za-z0-9]+\Z")
SQLITE_DT = re.compile(r"\A\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{6})?\Z")
# Django 5.2's current parameters, which is what `must_update()` compares against.
ARGON2_PREFIX = "argon2$argon2id$v=19$m=102400,t=2,p=8$"
PBKDF2_PREFIX = "pbkdf2_sha256$1000000$"
# oauthctl runs in a non-UTC local zone: what it stores must not depend on it.
OAUTHCTL_TZ = "America/New_York"
SLACK = timedelta(seconds=1)


# --------------------------------------------------------------------------------------------
# bookkeeping


class Suite:
    def __init__(self, phase):
        self.phase = phase
        self.passed = 0
        self.failed = []

    def record(self, name, ok, detail=""):
        label = f"[{BACKEND}/{self.phase}] {name}"
        if ok:
            self.passed += 1
            print(f"PASS {label}", flush=True)
        else:
            self.failed.append(label)
            print(f"FAIL {label}: {detail}", flush=True)
        return ok

    def check(self, name, fn):
        """Run fn(); an AssertionError or any exception is a failure. Returns fn's value or None."""
        try:
            value = fn()
        except AssertionError as exc:
            self.record(name, False, str(exc) or "assertion failed")
            return None
        except Exception as exc:  # noqa: BLE001 - anything unexpected is a failed check
            here = [fr for fr in traceback.extract_tb(exc.__traceback__) if fr.filename == __file__]
            where = f" (interop.py:{here[-1].lineno}: {here[-1].line})" if here else ""
            msg = str(exc).strip().replace("\n", "\n      ")
            self.record(name, False, f"{type(exc).__name__}: {msg}{where}")
            return None
        self.record(name, True)
        return value if value is not None else True


def eq(what, got, want):
    assert got == want, f"{what}: got {got!r}, want {want!r}"


# --------------------------------------------------------------------------------------------
# oauthctl


class Run:
    def __init__(self, args, proc, t0, t1):
        self.args, self.rc, self.stdout, self.stderr = args, proc.returncode, proc.stdout, proc.stderr
        self.t0, self.t1 = t0, t1

    def describe(self):
        return (
            f"`oauthctl {' '.join(self.args)}` exited {self.rc}; "
            f"stdout={self.stdout.strip()[:600]!r} stderr={self.stderr.strip()[:600]!r}"
        )


def oauthctl(args, *, stdin=None, env=None, url_from_env=False, timeout=180):
    full_env = dict(os.environ)
    full_env.pop("DATABASE_URL", None)
    full_env["TZ"] = OAUTHCTL_TZ
    full_env.update(env or {})
    if url_from_env:
        full_env["DATABASE_URL"] = DB_URL
        argv = [OAUTHCTL, *args]
    else:
        argv = [OAUTHCTL, "--database-url", DB_URL, *args]
    t0 = timezone.now()
    proc = subprocess.run(
        argv, input=stdin, capture_output=True, text=True, env=full_env, timeout=timeout
    )
    t1 = timezone.now()
    return Run(args, proc, t0, t1)


def app_count():
    return Application.objects.count()


# --------------------------------------------------------------------------------------------
# createapplication cases


class Case:
    """One oauthctl createapplication invocation and what DOT says its row must hold.

    client_type/grant/client_id/user/redirect_uris/post_logout/name/skip/algorithm/hash map 1:1 to
    DOT's own createapplication options; secret_via, hasher and fmt are oauthctl's additions.
    """

    def __init__(
        self,
        key,
        client_type,
        grant,
        *,
        client_id=None,
        user=None,
        redirect_uris=None,
        post_logout=None,
        name=None,
        skip=False,
        algorithm=None,
        hash=True,
        secret=None,
        secret_via="arg",
        hasher=None,
        fmt="text",
        url_from_env=False,
        token=None,
    ):
        self.key, self.client_type, self.grant = key, client_type, grant
        self.client_id, self.user, self.redirect_uris = client_id, user, redirect_uris
        self.post_logout, self.name, self.skip, self.algorithm = post_logout, name, skip, algorithm
        self.hash, self.secret, self.secret_via, self.hasher = hash, secret, secret_via, hasher
        self.fmt, self.url_from_env, self.token = fmt, url_from_env, token
        self.generated = secret is None

    def dot_args(self, client_id=None):
        a = [self.client_type, self.grant]
        cid = client_id or self.client_id
        if cid:
            a += ["--client-id", cid]
        if self.user is not None:
            a += ["--user", str(self.user)]
        if self.redirect_uris:
            a += ["--redirect-uris", self.redirect_uris]
        if self.post_logout:
            a += ["--post-logout-redirect-uris", self.post_logout]
        if self.name:
            a += ["--name", self.name]
        if self.skip:
            a += ["--skip-authorization"]
        if self.algorithm:
            a += ["--algorithm", self.algorithm]
        if not self.hash:
            a += ["--no-hash-client-secret"]
        return a

    def oauthctl_invocation(self, tmpdir):
        """(args, stdin, env) for oauthctl."""
        args = ["createapplication", *self.dot_args()]
        stdin, env = None, {}
        if self.secret is not None:
            if self.secret_via == "arg":
                args += ["--client-secret", self.secret]
            elif self.secret_via == "stdin":
                args += ["--client-secret-stdin"]
                stdin = self.secret + "\n"  # as `echo "$SECRET" | oauthctl ...` sends it
            elif self.secret_via == "file":
                path = os.path.join(tmpdir, f"{self.key}.secret")
                with open(path, "w", encoding="utf-8") as f:
                    f.write(self.secret + "\n")
                args += ["--client-secret-file", path]
            elif self.secret_via == "env":
                var = "INTEROP_SECRET_" + self.key.upper().replace("-", "_")
                env[var] = self.secret
                args += ["--client-secret-env", var]
            else:
                raise ValueError(self.secret_via)
        if self.hasher:
            args += ["--hasher", self.hasher]
        if self.fmt != "text":
            args += ["--format", self.fmt]
        return args, stdin, env

    @property
    def expected_hasher(self):
        return self.hasher or "argon2"  # oauthctl's documented default


def run_dot_createapplication(args):
    """DOT's own management command, in-process. Returns its stdout (validation errors go there)."""
    out, err = io.StringIO(), io.StringIO()
    call_command("createapplication", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def dt_in_window(what, value, t0, t1):
    assert value is not None, f"{what} is NULL"
    assert timezone.is_aware(value), f"{what} read back naive: {value!r}"
    assert t0 - SLACK <= value <= t1 + SLACK, (
        f"{what}={value.isoformat()} outside the run's window "
        f"[{t0.isoformat()}, {t1.isoformat()}] (timezone handling?)"
    )


def check_raw_datetimes(app_id, t0, t1):
    """The stored representation itself, below Django's conversions (docs/compatibility.md#storage-and-comparison)."""
    # On SQLite, CAST keeps Django's datetime converter (keyed on the declared type) out of the way.
    cols = "CAST(created AS TEXT), CAST(updated AS TEXT), typeof(created), typeof(updated)" if BACKEND == "sqlite" else "created, updated"
    with connection.cursor() as cur:
        cur.execute(f"SELECT {cols} FROM oauth2_provider_application WHERE id = %s", [app_id])
        row = cur.fetchone()
    created, updated = row[0], row[1]
    if BACKEND == "sqlite":
        eq("SQLite storage class of created/updated", (row[2], row[3]), ("text", "text"))
    for what, raw in (("created", created), ("updated", updated)):
        if BACKEND == "sqlite":
            assert isinstance(raw, str), f"raw {what} is {type(raw).__name__}, want TEXT"
            assert SQLITE_DT.match(raw), f"raw {what}={raw!r} is not Django's 'YYYY-MM-DD HH:MM:SS[.ffffff]'"
            assert not raw.endswith(".000000"), f"raw {what}={raw!r}: Django omits a zero fraction"
            value = datetime.fromisoformat(raw).replace(tzinfo=dt_timezone.utc)
        elif BACKEND == "mysql":
            assert isinstance(raw, datetime) and raw.tzinfo is None, f"raw {what}={raw!r}"
            value = raw.replace(tzinfo=dt_timezone.utc)  # naive UTC, as Django writes it
        else:
            assert isinstance(raw, datetime) and raw.tzinfo is not None, f"raw {what}={raw!r}"
            value = raw
        assert t0 - SLACK <= value <= t1 + SLACK, (
            f"raw {what}={raw!r} is not UTC now (run window {t0.isoformat()}..{t1.isoformat()})"
        )


def parse_secret_from_text(stdout):
    m = re.search(r"^client_secret: (\S+)$", stdout, re.M)
    assert m, f"no 'client_secret: ...' line in stdout {stdout!r}"
    return m.group(1)


def verify_case(suite, case, run, user_pk):
    """All column-level checks of one successful createapplication. Returns (app, plaintext secret)."""
    k = case.key

    ok = suite.check(f"{k}: oauthctl exits 0", lambda: eq("exit code", run.rc, 0) or True)
    if not ok:
        print("      " + run.describe(), flush=True)
        return None, None

    # ---- output and the secret it reveals
    info = {}

    def output():
        if case.fmt == "json":
            data = json.loads(run.stdout)
            assert isinstance(data, dict), f"stdout JSON is not an object: {run.stdout!r}"
            for key in ("id", "client_id", "name", "created"):
                assert key in data, f"JSON lacks {key!r}: {data!r}"
            if case.generated:
                assert isinstance(data.get("client_secret"), str), f"JSON lacks client_secret: {data!r}"
            else:
                assert "client_secret" not in data, f"JSON shows a secret it did not generate: {data!r}"
            info["json"] = data
            info["secret"] = data.get("client_secret", case.secret)
            app = Application.objects.get(client_id=data["client_id"])
        else:
            lines = run.stdout.splitlines()
            assert lines, "empty stdout"
            m = re.fullmatch(r"New application (.+) created successfully\.", lines[0])
            assert m, f"first line {lines[0]!r}"
            label = m.group(1)
            if case.name:
                eq("name in success line", label, case.name)
                app = Application.objects.filter(name=case.name).latest("id")
            else:
                app = Application.objects.get(client_id=label)
            if case.generated:
                info["secret"] = parse_secret_from_text(run.stdout)
                eq("stdout lines", len(lines), 2)
            else:
                assert "client_secret" not in run.stdout, "printed a secret it was given"
                eq("stdout lines", len(lines), 1)
                info["secret"] = case.secret
            assert case.secret is None or case.secret not in run.stdout + run.stderr, "secret echoed"
        info["app"] = app

    if not suite.check(f"{k}: output ({case.fmt}) names the app" + (" and shows the generated secret" if case.generated else ""), output):
        print("      " + run.describe(), flush=True)
        return None, None
    app, secret = info["app"], info["secret"]

    if case.generated:
        def generated_secret():
            eq("length", len(secret), 128)
            assert ALNUM.match(secret), f"{secret!r} is not all [A-Za-z0-9]"
        suite.check(f"{k}: generated secret is 128 chars of [A-Za-z0-9]", generated_secret)
    if case.fmt == "json":
        def json_fields():
            data = info["json"]
            eq("json id", data["id"], app.id)
            eq("json client_id", data["client_id"], app.client_id)
            eq("json name", data["name"], app.name)
            created = datetime.fromisoformat(str(data["created"]).replace("Z", "+00:00"))
            if created.tzinfo is None:
                created = created.replace(tzinfo=dt_timezone.utc)
            assert abs(created - app.created) <= timedelta(milliseconds=1), (
                f"json created {data['created']!r} vs stored {app.created.isoformat()}"
            )
        suite.check(f"{k}: JSON id/client_id/name/created match the row", json_fields)

    # ---- the secret, as DOT stores and verifies it
    if case.hash:
        def hashed():
            stored = app.client_secret
            hasher = identify_hasher(stored)  # ValueError = not a Django hash
            eq("hasher", hasher.algorithm, case.expected_hasher)
            prefix = ARGON2_PREFIX if case.expected_hasher == "argon2" else PBKDF2_PREFIX
            assert stored.startswith(prefix), f"{stored[:60]!r} lacks Django 5.2's {prefix!r}"
            assert check_password(secret, stored), "check_password(secret, client_secret) is False"
            assert not check_password(secret + "x", stored), "a wrong secret verifies"
            assert not get_hasher(hasher.algorithm).must_update(stored), "Django wants to re-hash it (must_update)"
        suite.check(f"{k}: {case.expected_hasher} hash verifies with Django's check_password", hashed)
    else:
        suite.check(
            f"{k}: unhashed secret stored as plaintext",
            lambda: eq("client_secret", app.client_secret, secret),
        )

    # ---- every column, explicitly
    def columns():
        if case.client_id:
            eq("client_id", app.client_id, case.client_id)
        else:
            assert len(app.client_id) == 40 and ALNUM.match(app.client_id), f"client_id {app.client_id!r}"
        eq("user_id", app.user_id, case.user)
        eq("redirect_uris", app.redirect_uris, case.redirect_uris or "")
        eq("post_logout_redirect_uris", app.post_logout_redirect_uris, case.post_logout or "")
        eq("client_type", app.client_type, case.client_type)
        eq("authorization_grant_type", app.authorization_grant_type, case.grant)
        eq("hash_client_secret", app.hash_client_secret, case.hash)
        eq("name", app.name, case.name or "")
        eq("skip_authorization", app.skip_authorization, case.skip)
        eq("algorithm", app.algorithm, case.algorithm or "")
        eq("allowed_origins", app.allowed_origins, "")
        eq("registration_source", app.registration_source, "manual")
        eq("cimd_expires_at", app.cimd_expires_at, None)
        dt_in_window("created", app.created, run.t0, run.t1)
        dt_in_window("updated", app.updated, run.t0, run.t1)
        assert app.updated >= app.created, "updated < created"
    suite.check(f"{k}: every column holds DOT's value", columns)
    suite.check(f"{k}: stored created/updated are UTC in Django's {BACKEND} form", lambda: check_raw_datetimes(app.id, run.t0, run.t1))
    suite.check(f"{k}: Application.full_clean() passes", lambda: app.full_clean())

    return app, secret


def compare_with_dot(suite, case, app, run):
    """Run DOT's own createapplication with the same options; rows and success line must agree."""
    ref_id = f"dotref-{case.key}-{secrets.token_hex(4)}"
    if case.client_id:
        args = case.dot_args(client_id=ref_id)
    else:
        args = case.dot_args()
    # DOT's command is fed the same secret (for stdin/file/env too: those are oauthctl-only ways
    # of passing --client-secret).
    if case.secret is not None:
        args += ["--client-secret", case.secret]

    def same():
        before = set(Application.objects.values_list("id", flat=True))
        out, _ = run_dot_createapplication(args)
        new = Application.objects.exclude(id__in=before)
        assert new.count() == 1, f"DOT's own createapplication did not create a row: {out!r}"
        ref = new.get()
        skip = {"id", "client_id", "client_secret", "created", "updated"}
        diffs = []
        for f in Application._meta.concrete_fields:
            if f.attname in skip:
                continue
            a, b = getattr(app, f.attname), getattr(ref, f.attname)
            if a != b:
                diffs.append(f"{f.attname}: oauthctl {a!r} vs DOT {b!r}")
        assert not diffs, "; ".join(diffs)
        if case.fmt == "text":
            dot_first = out.splitlines()[0].replace(ref.client_id, app.client_id)
            eq("success line vs DOT's", run.stdout.splitlines()[0], dot_first)
            eq("secret line shown", "client_secret: " in run.stdout, "client_secret: " in out)
    suite.check(f"{case.key}: row and output agree with DOT's own createapplication", same)


# --------------------------------------------------------------------------------------------
# DOT's endpoints


def client_credentials_checks(suite, label, app, secret):
    def good():
        r = token_request({"grant_type": "client_credentials"}, app.client_id, secret)
        eq("HTTP status", r.status_code, 200)
        body = r.json()
        assert body.get("access_token"), f"no access_token in {body!r}"
        tok = AccessToken.objects.get(token_checksum=hashlib.sha256(body["access_token"].encode()).hexdigest())
        eq("token's application", tok.application_id, app.id)
    suite.check(f"{label}: DOT /o/token/ client_credentials with the secret -> 200 + access_token", good)

    def bad():
        r = token_request({"grant_type": "client_credentials"}, app.client_id, secret + "-wrong")
        eq("HTTP status", r.status_code, 401)
        eq("error", r.json().get("error"), "invalid_client")
    suite.check(f"{label}: DOT /o/token/ with a wrong secret -> 401 invalid_client", bad)


def pkce_pair():
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorization_code_flow(app, secret, user, redirect_uri, scope="read"):
    """Logged-in user -> /o/authorize/ (skip_authorization) -> code -> /o/token/. Returns token JSON."""
    verifier, challenge = pkce_pair()
    browser = Client()
    browser.force_login(user)
    r = browser.get(
        "/o/authorize/",
        {
            "response_type": "code",
            "client_id": app.client_id,
            "redirect_uri": redirect_uri,
            "scope": scope,
            "state": "xyz",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "nonce": "n-0S6_WzA2Mj",
        },
    )
    eq("authorize status", r.status_code, 302)
    loc = r["Location"]
    assert loc.startswith(redirect_uri + "?"), f"redirected to {loc!r}, want {redirect_uri}?..."
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(loc).query)
    assert "code" in q, f"no code in {loc!r}"
    eq("state", q.get("state"), ["xyz"])
    data = {
        "grant_type": "authorization_code",
        "code": q["code"][0],
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }
    if app.client_type == "public":
        data["client_id"] = app.client_id
        r = token_request(data)
    else:
        r = token_request(data, app.client_id, secret)
    eq(f"token status (body {r.content[:300]!r})", r.status_code, 200)
    body = r.json()
    assert body.get("access_token") and body.get("refresh_token"), f"token response {body!r}"
    return body


# --------------------------------------------------------------------------------------------
# phase 1: a database migrated by Django


def phase_django_db(suite, tmpdir):
    User = get_user_model()
    user = User.objects.create_user("interop-user", password="interop-password-1")
    pk = user.pk

    uni_secret = "Sécret with spaces, ünïcode & $ymbols/+=%:"
    cases = [
        Case("cc-argon2-generated", "confidential", "client-credentials", name="CC argon2", hasher="argon2", token="cc"),
        Case("cc-pbkdf2-generated-json", "confidential", "client-credentials", hasher="pbkdf2_sha256", fmt="json", token="cc"),
        Case("cc-default-hasher", "confidential", "client-credentials", token="cc", url_from_env=True),
        Case("cc-unhashed-generated", "confidential", "client-credentials", hash=False, fmt="json", token="cc"),
        Case("cc-unhashed-given", "confidential", "client-credentials", hash=False, secret="plain-" + secrets.token_hex(8), token="cc"),
        Case("secret-arg-argon2", "confidential", "client-credentials", secret=uni_secret, secret_via="arg", hasher="argon2", token="cc"),
        Case("secret-stdin-pbkdf2", "confidential", "client-credentials", secret="stdin-" + secrets.token_hex(16), secret_via="stdin", hasher="pbkdf2_sha256", token="cc"),
        Case("secret-file-argon2", "confidential", "client-credentials", secret="file-" + secrets.token_hex(16), secret_via="file", hasher="argon2", fmt="json", token="cc"),
        Case("secret-env-pbkdf2", "confidential", "client-credentials", secret="env-" + secrets.token_hex(16), secret_via="env", hasher="pbkdf2_sha256", token="cc"),
        Case("hs256-cc-unhashed", "confidential", "client-credentials", algorithm="HS256", hash=False, name="HS256 machine client", token="cc"),
        Case("password-user-skip", "confidential", "password", user=pk, skip=True, name="Password app of user", hasher="pbkdf2_sha256", token="password"),
        Case("authcode-two-uris", "confidential", "authorization-code", redirect_uris="https://rp.example.com/cb http://localhost:8000/cb2", user=pk, skip=True, hasher="argon2", token="authcode"),
        Case("public-authcode", "public", "authorization-code", redirect_uris="https://spa.example.com/callback", skip=True, name="Public SPA", token="pkce"),
        Case("rs256-oidc", "confidential", "authorization-code", redirect_uris="https://oidc.example.com/cb", post_logout="https://oidc.example.com/bye https://oidc.example.com/bye2", algorithm="RS256", skip=True, hasher="pbkdf2_sha256", token="oidc"),
        Case("fixed-client-id", "confidential", "client-credentials", client_id="interop-fixed-" + secrets.token_hex(4), secret="fixed-" + secrets.token_hex(8), hasher="pbkdf2_sha256"),
        Case("device-code-public", "public", "urn:ietf:params:oauth:grant-type:device_code", name="TV app"),
        Case("implicit", "public", "implicit", redirect_uris="https://implicit.example.com/cb"),
        Case("openid-hybrid", "confidential", "openid-hybrid", redirect_uris="https://hybrid.example.com/cb", algorithm="RS256", hasher="pbkdf2_sha256"),
    ]

    created = {}
    for case in cases:
        args, stdin, env = case.oauthctl_invocation(tmpdir)
        run = oauthctl(args, stdin=stdin, env=env, url_from_env=case.url_from_env)
        app, secret = verify_case(suite, case, run, pk)
        if app is None:
            continue
        created[case.key] = (case, app, secret)
        compare_with_dot(suite, case, app, run)

    # ---- DOT's endpoints accept what oauthctl wrote
    for key, (case, app, secret) in created.items():
        if case.token == "cc":
            client_credentials_checks(suite, key, app, secret)
        elif case.token == "password":
            def password_grant(app=app, secret=secret):
                r = token_request(
                    {"grant_type": "password", "username": "interop-user", "password": "interop-password-1", "scope": "read"},
                    app.client_id, secret,
                )
                eq(f"status (body {r.content[:300]!r})", r.status_code, 200)
                body = r.json()
                tok = AccessToken.objects.get(token_checksum=hashlib.sha256(body["access_token"].encode()).hexdigest())
                eq("token user", tok.user_id, pk)
                r2 = token_request({"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}, app.client_id, secret)
                eq(f"refresh status (body {r2.content[:300]!r})", r2.status_code, 200)
            suite.check(f"{key}: DOT password grant for the --user's user, then refresh -> 200", password_grant)
        elif case.token == "authcode":
            for uri in case.redirect_uris.split():
                suite.check(
                    f"{key}: DOT authorization-code flow to redirect URI {uri} -> 200",
                    lambda app=app, secret=secret, uri=uri: authorization_code_flow(app, secret, user, uri) and None,
                )
        elif case.token == "pkce":
            suite.check(
                f"{key}: DOT authorization-code + PKCE flow for the public client -> 200",
                lambda app=app, case=case: authorization_code_flow(app, None, user, case.redirect_uris) and None,
            )
        elif case.token == "oidc":
            def oidc(app=app, secret=secret, case=case):
                from jwcrypto import jwk, jwt

                body = authorization_code_flow(app, secret, user, case.redirect_uris, scope="openid read")
                assert body.get("id_token"), f"no id_token in {body!r}"
                key = jwk.JWK.from_pem(os.environ["OIDC_RSA_PRIVATE_KEY"].encode())
                token = jwt.JWT(jwt=body["id_token"], key=key, algs=["RS256"])
                claims = json.loads(token.claims)
                eq("aud", claims.get("aud"), app.client_id)
                eq("sub", claims.get("sub"), str(pk))
            suite.check(f"{key}: DOT OIDC flow issues an RS256 id_token that verifies", oidc)

    # ---- invalid input: exit 2, DOT's message, nothing written
    negatives = [
        ("bogus client type", ["bogus", "client-credentials"]),
        ("authorization-code without redirect URIs", ["confidential", "authorization-code"]),
        ("--user of a missing user", ["confidential", "client-credentials", "--user", "999999"]),
        ("HS256 on a public client", ["public", "authorization-code", "--redirect-uris", "https://a.example/cb", "--algorithm", "HS256"]),
        ("redirect URI with a fragment", ["confidential", "authorization-code", "--redirect-uris", "https://a.example/cb#frag"]),
        ("many errors at once", ["bogus", "bogus-grant", "--redirect-uris", "ftp://x", "--user", "999999", "--algorithm", "XX"]),
    ]
    for label, args in negatives:
        seen = {}

        def negative(args=args, seen=seen):
            before = app_count()
            run = oauthctl(["createapplication", *args])
            seen["run"] = run
            eq(f"exit code ({run.describe()})", run.rc, 2)
            eq("application count", app_count(), before)
            eq("stdout", run.stdout, "")
        suite.check(f"invalid: {label} -> exit 2, nothing written", negative)

        def message(args=args, seen=seen):
            assert "run" in seen, "oauthctl did not run"
            before = app_count()
            dot_out, _ = run_dot_createapplication(args)
            eq("DOT's count (DOT must not write either)", app_count(), before)
            assert dot_out.startswith("Please correct the following errors:"), f"DOT said {dot_out!r}"
            eq("stderr vs DOT's message", seen["run"].stderr.strip(), dot_out.strip())
        suite.check(f"invalid: {label} -> stderr is exactly DOT's message", message)

    def missing_positionals():
        before = app_count()
        run = oauthctl(["createapplication", "--redirect-uris", "https://a.example/cb"])
        eq(f"exit code ({run.describe()})", run.rc, 2)
        eq("application count", app_count(), before)
    suite.check("invalid: missing positional arguments -> exit 2, nothing written", missing_positionals)

    # ---- duplicates
    if "fixed-client-id" in created:
        case, app, secret = created["fixed-client-id"]

        def snapshot():
            a = Application.objects.get(pk=app.pk)
            return {f.attname: getattr(a, f.attname) for f in Application._meta.concrete_fields}

        def duplicate():
            before, snap = app_count(), snapshot()
            run = oauthctl(["createapplication", "public", "client-credentials", "--client-id", case.client_id, "--name", "dup"])
            eq(f"exit code ({run.describe()})", run.rc, 3)
            eq("application count", app_count(), before)
            eq("existing row", snapshot(), snap)
        suite.check("duplicate --client-id -> exit 3, nothing changed", duplicate)

        def if_not_exists():
            before, snap = app_count(), snapshot()
            run = oauthctl(["createapplication", "public", "client-credentials", "--client-id", case.client_id, "--name", "dup", "--if-not-exists"])
            eq(f"exit code ({run.describe()})", run.rc, 0)
            eq("application count", app_count(), before)
            eq("existing row", snapshot(), snap)
            assert "client_secret" not in run.stdout, "printed a secret for an app it did not create"
        suite.check("--if-not-exists on an existing --client-id -> exit 0, nothing changed", if_not_exists)

        def if_not_exists_new():
            before = app_count()
            new_id = "interop-new-" + secrets.token_hex(4)
            run = oauthctl(["createapplication", "confidential", "client-credentials", "--client-id", new_id, "--if-not-exists", "--hasher", "pbkdf2_sha256"])
            eq(f"exit code ({run.describe()})", run.rc, 0)
            eq("application count", app_count(), before + 1)
            new = Application.objects.get(client_id=new_id)
            assert check_password(parse_secret_from_text(run.stdout), new.client_secret), "secret does not verify"
        suite.check("--if-not-exists with a new --client-id creates it", if_not_exists_new)

    def concurrent_same_id():
        before = app_count()
        cid = "interop-race-" + secrets.token_hex(4)
        env = dict(os.environ, TZ=OAUTHCTL_TZ)
        env.pop("DATABASE_URL", None)
        argv = [OAUTHCTL, "--database-url", DB_URL, "createapplication", "confidential", "client-credentials", "--client-id", cid]
        procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
        outs = [p.communicate(timeout=180) for p in procs]
        rcs = sorted(p.returncode for p in procs)
        eq(f"exit codes (outputs {outs!r})", rcs, [0, 3])
        eq("application count", app_count(), before + 1)
        app = Application.objects.get(client_id=cid)
        winner = outs[[p.returncode for p in procs].index(0)][0]
        assert check_password(parse_secret_from_text(winner), app.client_secret), "the winner's secret does not verify"
    suite.check("two concurrent runs with the same --client-id: one creates (0), the other exits 3", concurrent_same_id)

    # ---- the other way round: DOT writes, DOT reads, on the same tables oauthctl wrote to
    suite.check("DOT's cleartokens runs on this database", lambda: call_command("cleartokens", stdout=io.StringIO(), stderr=io.StringIO()))


# --------------------------------------------------------------------------------------------
# phase 2: a database created by `oauthctl migrate` only


def phase_oauthctl_db(suite, tmpdir):
    run = oauthctl(["migrate"])
    if not suite.check("oauthctl migrate on an empty database exits 0", lambda: eq(f"exit code ({run.describe()})", run.rc, 0)):
        return

    tables = set(connection.introspection.table_names())
    models = [Application, AccessToken, RefreshToken, IDToken, Grant]

    suite.check(
        "oauthctl migrate creates no users table",
        lambda: eq("auth_user present", "auth_user" in tables, False),
    )

    def schema(model):
        table = model._meta.db_table
        assert table in tables, f"{table} missing (tables: {sorted(tables)})"
        with connection.cursor() as cur:
            desc = {c.name: c for c in connection.introspection.get_table_description(cur, table)}
        want = {f.column: f for f in model._meta.concrete_fields}
        missing = sorted(set(want) - set(desc))
        extra = sorted(set(desc) - set(want))
        assert not missing, f"{table}: missing columns {missing}"
        assert not extra, f"{table}: columns DOT 3.4.1 does not have {extra}"
        wrong_null = [
            f"{col} null_ok={desc[col].null_ok} (DOT null={f.null})"
            for col, f in want.items()
            if bool(desc[col].null_ok) != bool(f.null)
        ]
        assert not wrong_null, f"{table}: {wrong_null}"
    for model in models:
        suite.check(f"{model._meta.db_table}: DOT's columns with DOT's nullability", lambda m=model: schema(m))

    orm_on_fresh_schema(suite)

    # ---- oauthctl createapplication on its own schema, then DOT's token endpoint
    cases = [
        Case("fresh-cc-argon2", "confidential", "client-credentials", hasher="argon2", name="fresh argon2", token="cc"),
        Case("fresh-cc-pbkdf2-json", "confidential", "client-credentials", hasher="pbkdf2_sha256", fmt="json", token="cc"),
        Case("fresh-cc-unhashed", "confidential", "client-credentials", hash=False, secret="fresh-plain-" + secrets.token_hex(8), secret_via="stdin", token="cc"),
        Case("fresh-authcode", "confidential", "authorization-code", redirect_uris="https://fresh.example.com/cb https://fresh.example.com/cb2", skip=True, hasher="pbkdf2_sha256"),
    ]
    for case in cases:
        args, stdin, env = case.oauthctl_invocation(tmpdir)
        run = oauthctl(args, stdin=stdin, env=env)
        app, secret = verify_case(suite, case, run, None)
        if app is not None and case.token == "cc":
            client_credentials_checks(suite, case.key, app, secret)

    def negative():
        before = app_count()
        run = oauthctl(["createapplication", "confidential", "authorization-code"])
        eq(f"exit code ({run.describe()})", run.rc, 2)
        eq("application count", app_count(), before)
    suite.check("invalid input on oauthctl's schema -> exit 2, nothing written", negative)


def orm_on_fresh_schema(suite):
    """Django's ORM and DOT's model methods on oauthctl's schema (no users table: user_id is a
    plain integer column there, so user_id=1 needs no user row)."""
    state = {}

    def orm_write():
        now = timezone.now()
        app = Application.objects.create(
            name="ORM app", client_type="confidential", authorization_grant_type="authorization-code",
            redirect_uris="https://orm.example.com/cb", client_secret="orm-secret", user=None,
        )
        idt = IDToken.objects.create(application=app, user=None, expires=now + timedelta(hours=1), scope="openid")
        at = AccessToken.objects.create(
            application=app, user=None, token="orm-access-" + secrets.token_hex(8),
            expires=now + timedelta(hours=1), scope="read write", id_token=idt,
        )
        rt = RefreshToken.objects.create(
            application=app, user_id=1, token="orm-refresh-" + secrets.token_hex(8),
            access_token=at, token_family=uuid.uuid4(),
        )
        gr = Grant.objects.create(
            application=app, user_id=1, code="orm-code-" + secrets.token_hex(8),
            expires=now + timedelta(minutes=5), redirect_uri="https://orm.example.com/cb",
            scope="read", code_challenge="abc", code_challenge_method="S256", nonce="n", claims="{}",
        )
        state.update(app=app, idt=idt, at=at, rt=rt, gr=gr)
    if not suite.check("Django ORM creates Application/IDToken/AccessToken/RefreshToken/Grant (user=None / user_id=1)", orm_write):
        return

    def orm_read():
        app, idt, at, rt, gr = (state[k] for k in ("app", "idt", "at", "rt", "gr"))
        a = Application.objects.get(pk=app.pk)
        for f in ("client_id", "name", "client_type", "authorization_grant_type", "redirect_uris", "user_id",
                  "skip_authorization", "algorithm", "hash_client_secret", "registration_source", "allowed_origins",
                  "cimd_expires_at", "created", "updated"):
            eq(f"application.{f}", getattr(a, f), getattr(app, f))
        assert check_password("orm-secret", a.client_secret), "DOT-hashed secret does not verify after read-back"
        a.full_clean()
        t = AccessToken.objects.get(pk=at.pk)
        eq("accesstoken.token_checksum", t.token_checksum, hashlib.sha256(at.token.encode()).hexdigest())
        eq("accesstoken.resource", t.resource, [])
        eq("accesstoken.expires", t.expires, at.expires)
        eq("accesstoken.id_token_id", t.id_token_id, idt.pk)
        eq("accesstoken.application_id", t.application_id, app.pk)
        r = RefreshToken.objects.get(pk=rt.pk)
        eq("refreshtoken.access_token_id", r.access_token_id, at.pk)
        eq("refreshtoken.token_family", r.token_family, rt.token_family)
        eq("refreshtoken.revoked", r.revoked, None)
        eq("refreshtoken.user_id", r.user_id, 1)
        i = IDToken.objects.get(pk=idt.pk)
        eq("idtoken.jti", i.jti, idt.jti)
        eq("idtoken.expires", i.expires, idt.expires)
        eq("idtoken.access_token", i.access_token.pk, at.pk)
        g = Grant.objects.get(pk=gr.pk)
        for f in ("code", "expires", "redirect_uri", "scope", "code_challenge", "code_challenge_method", "nonce", "claims", "resource", "user_id"):
            eq(f"grant.{f}", getattr(g, f), getattr(gr, f))
        assert g.is_expired() is False, "fresh grant reads as expired"
        assert t.is_valid(["read"]), "access token not valid for 'read'"
        eq("lookup by token", AccessToken.objects.get(token_checksum=hashlib.sha256(at.token.encode()).hexdigest()).pk, at.pk)
    suite.check("Django ORM reads every value back unchanged", orm_read)

    def orm_revoke_and_delete():
        rt = RefreshToken.objects.get(pk=state["rt"].pk)
        rt.revoke()  # DOT: transaction + select_for_update, deletes the access token, stamps revoked
        rt.refresh_from_db()
        assert rt.revoked is not None, "refresh token not revoked"
        assert not AccessToken.objects.filter(pk=state["at"].pk).exists(), "access token survived revoke()"
        state["app"].delete()  # Django's Collector cascades to every token table
        for model in (Application, AccessToken, RefreshToken, IDToken, Grant):
            eq(f"{model.__name__} rows after cascade", model.objects.count(), 0)
    suite.check("DOT revoke() and Django's cascading delete work on oauthctl's schema", orm_revoke_and_delete)

    def dot_cleartokens():
        app = Application.objects.create(name="expiring", client_type="confidential", authorization_grant_type="client-credentials")
        past = timezone.now() - timedelta(days=1)
        AccessToken.objects.create(application=app, token="old-" + secrets.token_hex(8), expires=past, scope="read")
        Grant.objects.create(application=app, user_id=1, code="old-" + secrets.token_hex(8), expires=past, redirect_uri="https://x.example/cb")
        call_command("cleartokens", stdout=io.StringIO(), stderr=io.StringIO())
        eq("expired access tokens left", AccessToken.objects.filter(application=app).count(), 0)
        eq("expired grants left", Grant.objects.filter(application=app).count(), 0)
        app.delete()
    suite.check("DOT's cleartokens runs on oauthctl's schema", dot_cleartokens)

    def dot_createapplication():
        out, _ = run_dot_createapplication(["confidential", "client-credentials", "--name", "made by DOT", "--client-secret", "dot-secret"])
        assert "created successfully" in out, out
        a = Application.objects.get(name="made by DOT")
        assert check_password("dot-secret", a.client_secret)
    suite.check("DOT's own createapplication works on oauthctl's schema", dot_createapplication)


# --------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("phase", choices=["django-db", "oauthctl-db"])
    ap.add_argument("--results", required=True)
    opts = ap.parse_args()

    suite = Suite(opts.phase)
    with tempfile.TemporaryDirectory(prefix="oauthctl-interop-") as tmpdir:
        try:
            if opts.phase == "django-db":
                phase_django_db(suite, tmpdir)
            else:
                phase_oauthctl_db(suite, tmpdir)
        except Exception as exc:  # noqa: BLE001 - a crash of the harness is a failure, not a pass
            suite.record("harness", False, f"crashed: {exc!r}\n{traceback.format_exc()}")
    with open(opts.results, "a", encoding="utf-8") as f:
        f.write(f"{suite.passed} {len(suite.failed)}\n")
        for label in suite.failed:
            f.write(f"# {label}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
