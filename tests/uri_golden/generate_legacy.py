#!/usr/bin/env python3
"""Generate tests/uri_golden/cases_dot23.json from DOT 2.3.0's real `Application.clean()`.

Before DOT 2.4, `clean()` validates redirect URIs with `RedirectURIValidator` on Django 4.2's
`URLValidator`; `oauthctl::uri_validator::legacy` ports that. Run from a virtualenv with the
interop matrix's pins (tests/interop/releases/dot-2.0.0.txt), outside this repo:

    /usr/bin/python3.11 -m venv /tmp/legacyuri-venv
    /tmp/legacyuri-venv/bin/pip install Django==4.2.30 django-oauth-toolkit==2.3.0
    /tmp/legacyuri-venv/bin/python tests/uri_golden/generate_legacy.py

The Python must have the gh-105704 urlsplit fix (see generate.py). The URIs are the distinct
single-word URIs of cases.json, in file order, then EXTRA below, then hosts for the IDNA
retry from a fixed seed, so the output is deterministic. `tests/it/uri_validator.rs` checks the port against every case.
"""

import json
import os
import sys
import urllib.parse

import django
from django.conf import settings

if sys.version_info[:2] != (3, 11) or not hasattr(urllib.parse, "_check_bracketed_netloc"):
    sys.exit("needs Python 3.11 with the gh-105704 urlsplit fix (3.11.12+ or a patched build)")

settings.configure(
    INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "oauth2_provider"],
    DATABASES={},
)
django.setup()

from django.core.exceptions import ValidationError  # noqa: E402
from oauth2_provider.models import Application  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "cases_dot23.json")
SEED = 20261201

# ALLOWED_REDIRECT_URI_SCHEMES settings; clean() lower-cases them.
CONFIGS = [
    {"id": "default", "schemes": ["http", "https"]},
    {"id": "private", "schemes": ["http", "HTTPS", "my-scheme", "com.example.app", "git+ssh", "myapp"]},
]

# Cases where DOT 2.3 differs from 3.4.1: empty fragments, the IDNA retry, control prefixes.
EXTRA = [
    "https://example.com/#", "https://example.com#", "https://example.com/#x", "myapp://cb#",
    "\x01https://example.com/", "\x1bhttps://x", "\x00http://a.b", "https://-a.com/",
    "https://_a.com", "https://a" + "b" * 63 + ".com", "https://" + "a" * 64 + ".com",
    "https://" + "a" * 64, "https://-" + "a" * 63, "https://-a..com", "https://-a.", "https://-",
    "https://.a", "https://..", "https://_:80", "https://_@x", "https://@x", "http://:80/",
    "\x05myapp:/cb", "com.example.app:/cb", "com.example.app:cb", "myapp:", "myapp://",
    "https://[::1]/", "https://[::1]:80/#", "https://[::g]/", "https://-[::1]/",
    "https://ß/", "https://ß.com", "https://😀.com", "https://-ü.de",
]


# Characters that take a host through the IDNA retry and through each step of nameprep.
IDNA_LEADS = ["-", "\u0080", "\u00a0", "\U0001f600", "\U00010400", "\u00ad", "\u200b", "\ufeff",
              "\u0301", "\u05d0", "\u0627", "\u1100", "\u3002", "\uff0e", "_"]
IDNA_CHARS = list("aZ9-_.") + [
    "\u00df", "\u00c5", "\u0041\u030a", "\u212b", "\ufb01", "\u0130", "\u03c2", "\u03a3", "\u1e9e",
    "\u00ad", "\u200b", "\u200d", "\u2060", "\ufeff", "\u034f", "\u180b", "\u0301", "\u0327",
    "\u0323", "\u0307", "\u1100", "\u1161", "\u11a8", "\uac00", "\u05d0", "\u05d1", "\u0627",
    "\u0661", "\u200f", "\u202e", "\u3002", "\uff0e", "\uff61", "\uff21", "\uff41", "\u2460",
    "\u3300", "\u00bd", "\u2126", "\ue000", "\U000e0001", "\u2ff0", "\u0340", "\u0f73",
    "\u0958", "\u2adc", "\U0001d15e", "\u4e00", "\u00e9", "\u00fc", "\u0439", "\u3042",
    "\U00020000", "\u1f80", "\u0385", "\u1fee", "\u0344", "\uf900", "\ufffd", "\U000f0000",
    "\u0080", "\u0085", "\u009f", "\u00a0", "\u3000", "\u1680", "\u2028", "\u06dd", "\u070f",
    "\u2ff9", "xn--", "XN--",
]


def idna_uris(rng):
    uris = []
    for _ in range(1500):
        host = rng.choice(IDNA_LEADS)
        for _ in range(rng.choice([1, 2, 3, 5, 8, 20, 40, 70])):
            host += rng.choice(IDNA_CHARS)
        host += rng.choice(["", ".com", ".de", "。jp", ".", ":80", ".xn--p1ai"])
        uris.append(rng.choice(["https://", "http://", "myapp://"]) + host + rng.choice(["", "/", "/cb?x=1"]))
    return uris


def clean(schemes, uri):
    app = Application(
        redirect_uris=uri, authorization_grant_type="authorization-code",
        client_type="confidential", algorithm="",
    )
    app.get_allowed_schemes = lambda: schemes
    try:
        app.clean()
    except ValidationError as e:
        return False, e.messages[0]
    return True, None


def main():
    import oauth2_provider

    with open(os.path.join(HERE, "cases.json"), encoding="utf-8") as f:
        base = json.load(f)
    uris, seen = [], set()
    import random

    rng = random.Random(SEED)
    for uri in [c["uri"] for c in base["cases"]] + EXTRA + idna_uris(rng):
        # clean() splits the field on whitespace; the port validates one URI.
        if uri.split() == [uri] and uri not in seen:
            seen.add(uri)
            uris.append(uri)
    cases = []
    for index, config in enumerate(CONFIGS):
        for uri in uris:
            ok, message = clean(config["schemes"], uri)
            cases.append({"config": index, "uri": uri, "ok": ok, "message": message})
    head = {
        "about": "Generated by tests/uri_golden/generate_legacy.py from DOT's Application.clean().",
        "python": sys.version.split()[0],
        "django": django.get_version(),
        "django_oauth_toolkit": oauth2_provider.__version__,
        "configs": CONFIGS,
    }
    with open(OUT, "w", encoding="utf-8") as out:
        out.write("{\n")
        for key, value in head.items():
            out.write(f"{json.dumps(key)}: {json.dumps(value, ensure_ascii=False)},\n")
        out.write('"cases": [\n')
        out.write(",\n".join(json.dumps(c, ensure_ascii=False) for c in cases))
        out.write("\n]}\n")
    print(f"{len(uris)} URIs, {len(CONFIGS)} configurations, {len(cases)} cases -> {OUT}")


if __name__ == "__main__":
    main()
