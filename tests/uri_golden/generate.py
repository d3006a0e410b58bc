#!/usr/bin/env python3
"""Generate tests/uri_golden/cases.json by running DOT's real AllowedURIValidator.

Run it from a virtualenv that has the reference versions installed, outside this repo, e.g.:

    python3.11 -m venv /tmp/uri-venv
    /tmp/uri-venv/bin/pip install 'Django==5.2.*' django-oauth-toolkit==3.4.1
    /tmp/uri-venv/bin/python tests/uri_golden/generate.py

The interpreter must be a Python 3.11 with the gh-105704 (CVE-2025-0938) fix to urlsplit's
bracket handling: 3.11.12 or later, or a distribution build with the fix backported (Debian
12's 3.11.2-6+deb12u6 has it). Python 3.11.4 to 3.11.11 check a different substring of the
netloc, which changes some messages; the port follows the fixed behaviour.

The URIs are generated deterministically (fixed seed), so rerunning with the same Python,
Django and DOT versions reproduces the file byte for byte. The Rust test
`tests/it/uri_validator.rs` asserts that `oauthctl::uri_validator` gives the same outcome and
the same message for every case.
"""

import json
import os
import random
import sys

import urllib.parse

import django
from django.conf import settings

if sys.version_info[:2] != (3, 11) or not hasattr(urllib.parse, "_check_bracketed_netloc"):
    sys.exit("needs Python 3.11 with the gh-105704 urlsplit fix (3.11.12+ or a patched build)")

settings.configure()
django.setup()

from django.core.exceptions import ValidationError  # noqa: E402
from oauth2_provider.validators import AllowedURIValidator  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases.json")
SEED = 20250314
SCALE = 1  # `generate.py --scale N --seed S --out PATH` writes a bigger file for local fuzzing.

# Validator configurations, in the field names of oauthctl's UriValidator.
CONFIGS = [
    {   # DOT's defaults for redirect URIs (ALLOWED_REDIRECT_URI_SCHEMES, no wildcards).
        "id": "redirect_default",
        "name": "redirect uri",
        "schemes": ["http", "https"],
        "allow_path": True,
        "allow_query": True,
        "allow_fragment": False,
        "allow_hostname_wildcard": False,
    },
    {   # Redirect URIs with ALLOW_URI_WILDCARDS and private-use schemes.
        "id": "redirect_wildcards_private",
        "name": "redirect uri",
        "schemes": ["http", "https", "my-scheme", "com.example.app", "git+ssh", "myapp"],
        "allow_path": True,
        "allow_query": True,
        "allow_fragment": False,
        "allow_hostname_wildcard": True,
    },
    {   # allowed_origins with ALLOWED_SCHEMES and wildcards.
        "id": "origin_wildcards",
        "name": "allowed origin",
        "schemes": ["https"],
        "allow_path": False,
        "allow_query": False,
        "allow_fragment": False,
        "allow_hostname_wildcard": True,
    },
    {   # Not used by createapplication: fragments allowed, paths not.
        "id": "fragments_no_path",
        "name": "test",
        "schemes": ["https", "myapp", "com.example.app"],
        "allow_path": False,
        "allow_query": True,
        "allow_fragment": True,
        "allow_hostname_wildcard": False,
    },
]

SCHEMES = [
    "https", "https", "https", "https", "https", "https", "https", "https", "http", "http",
    "http", "http", "my-scheme", "com.example.app", "myapp", "https", "http", "HTTPS", "HtTp", "ftp", "ws", "wss",
    "my-scheme", "com.example.app", "COM.Example.App", "git+ssh", "myapp", "bad", "1http",
    "h", "\u017fhttps", "https\t", "ht\ttps", "ht\ntp", "", "-x", "a.b+c-d", "https ",
    "http\u0130", "\u212aey",
]
SEPARATORS = [
    "://", "://", "://", "://", "://", "://", "://", "://", "://", "://", "://", "://", ":/", ":", ":///", "//", ":\\\\", "::", "://\t", ":/ ",
    ":/\n/", "://\u00a0",
]
USERINFO = [
    "", "", "", "", "", "", "user@", "user:pass@", "@", "a@b@", "[u@", "u]@", "\u00fc@", ":@",
    "u:p:q@", "*@", "u%40@", "[::1]@", "u@[",
]
LABELS = [
    "example", "EXAMPLE", "a", "b", "xn--bcher-kva", "a_b", "-exa", "exa-", "a--b", "1", "123",
    "ex\u00e4mple", "\u0430\u0431", "\u4f8b\u3048", "\U0001f600", "\u0663", "\uff11\uff12",
    "\u0130", "\u0131x", "K\u212a", "\u017f", "x" * 63, "x" * 64, "exa mple", "\u00ad",
    "\u0378", "\ufeff", "\u2100", "\uff1a", "\ufe5f", "\u00a0", "a'b", 'a"b', "a\\b", "%41",
    "*", "*-partial", "*--sitename", "*---x", "invalid-*", "a*b", "\u200b", "\u0660a",
    "localhost", "LOCALHOST", "localho\u017ft", "\ue000", "\uffff", "\U00010000",
]
TLDS = [
    "com", "COM", "org", "io", "c", "x1", "1x", "-com", "com-", "c-m", "xn--p1ai",
    "XN--P1AI", "xn--", "xn--1", "\u0440\u0444", "\u00e9", "\u00e9\u00e9", "ab-", "a-",
    "\U0001f600\U0001f600", "co\u0301", "netlify.app", "example.com", "", "app.", "com.",
]
HOST_SPECIALS = [
    "localhost", "LOCALHOST", "localhost.", "localho\u017ft", "127.0.0.1", "0.0.0.0",
    "255.255.255.255", "256.1.1.1", "01.2.3.4", "1.2.3", "1.2.3.4.5", "1.2.3.4567",
    "1.2.3.a", "1..2.3", "[::1]", "[::1%eth0]", "[fe80::1%25en0]", "[::]", "[1::2::3]",
    "[v1.x]", "[vz.x]", "[v1.]", "[V1.x]", "[1.2.3.4]", "[zz]", "[::ffff:1.2.3.4]",
    "[::ffff:1.2.3.256]", "[fe80::1]", "[FE80::1]", "[1:2:3:4:5:6:7:8]", "[1:2:3:4:5:6:7:8:9]",
    "[1:2:3:4:5:6:7::]", "[::1:2:3:4:5:6:7]", "[:1:2:3:4:5:6:7]", "[1::]", "[12345::]",
    "[::1", "::1]", "[", "]", "[]", "[::1]x", "x[::1]", "[::1]]", "[::1]:80]", "[[::1]]",
    "[\u0663::1]", "[::\u00ad]", "[::1%]", "[::1%a%b]", "[1:2:3:4:5:6:1.2.3.4]",
    "[0000:0000:0000:0000:0000:0000:0000:0001]", "[00000::1]", "['x]", "[\"x']", "[x\\y]",
    "[\U0001f600]", "[\x00]", "[a\x7fb]", "[\u0378\u0085]", "fe80::1", "*", "*.", "*..a.b",
    "*.com", "*.example.com", "*-partial.example.com", "*--sitename.netlify.app",
    "*---sitename.netlify.app", "*.*.example.com", "invalid.*.example.com", "*-.a.b",
    "*.-a.b.c", "*.a.b:8080", "u@*.a.b", "*.a.b@c", "*a.b.c", "**.a.b", "*.\u00e9.com",
    "exa mple.com", "a.b.", "a.b..", "a..b.com", ".a.com", "a.-b.com", "a.b-.com", "a.b.c.d.e",
    "-", ".", "..", "_", "a" * 250, "a" * 250 + ".com", "a" * 249 + ".com", ("a" * 63 + ".") * 4,
    ("a" * 60 + ".") * 4 + "com", "\u0130" * 127 + ".com", "\u0130" * 126 + ".co", "",
    "\u2100.com", "example\uff0ecom", "example\u3002com", "\uff21.com",
]
PORTS = [
    "", "", "", "", ":8080", ":80", ":1", ":0", ":65535", ":99999", ":123456", ":", ":abc",
    ":\u0663", ":-1", ":8080:80",
]
TAILS = [
    "", "", "", "/", "/cb", "/path/to", "/p a", "?", "#", "?q=1", "#frag", "?q#f", "#a?b",
    "/cb?", "/cb#", "/cb%23", "/a?b#c", "/\u00e9", "/x\ty", "/x\ny", "?a b", "/[::1]", "/@x",
    "/*", "?#", "#?", "/\u3000x", "/a\\b",
]
PREFIXES = ["", "", "", "", "", " ", "\x00", "\x1f ", "\u00a0", "\t", "\n", "\x7f", "\u3000"]
SUFFIXES = ["", "", "", "", "", " ", "\n", "\u3000", "\t", "\x00", "\u0085"]

# Cases from DOT's own tests and the reference notes.
FIXED = [
    "my-scheme://example.com", "my-scheme://example", "my-scheme://localhost",
    "https://example.com", "HTTPS://example.com", "git+ssh://example.com", "http:/example.com",
    "HTTP://localhost", "HTTP://example.com", "https://-exa", "HTTP://example.com/path",
    "HTTP://example.com/path?query=string", "HTTP://example.com/path?query=string#fragmemt",
    "HTTP://example.com.", "http://example.com/path/#fragment",
    "http://example.com?query=string#fragment", "123://example.com", "http://fe80::1",
    "uri-without-a-scheme", "https://example.com/#fragment", "good://example.com/#fragment",
    "    ", "", 'https://["><script>alert()</script>', "https://example.com:8080",
    "https://example", "https://example.com/path", "https://example.com:8080/path",
    "https://example/path", "https://localhost/path", "myapp://host/path",
    "https://example.com/cb#", "https://example.com/cb#frag", "https://example.com/cb%23",
    "https://example.com?", "https://example.com?a=1", "https://example.com#a?b",
    "https://example.com?query=string", "https://example.com#fragment",
    "myapp://example.com?query=string", "myapp://example?query=string",
    "https://example.com:8080#fragment", "https://example#fragment", "myapp://example#fragment",
    "bad://example.com", "https://*.example.com", "https://*-partial.example.com",
    "https://*.partial.example.com", "https://*-partial.valid.example.com",
    "https://*--sitename.netlify.app", "https://*/", "https://*-partial", "https://*.com",
    "https://*-partial.com", "https://*---sitename.netlify.app", "https://*.*.example.com",
    "https://invalid.*.example.com", "https://*.example.com/path",
    "https://*-partial.example.com/path", "https://invalid-*.example.com/path",
    "https://*.com/path", "https://*-partial.com/path", "https://invalid-*.com/path",
    "https://*/path", "https://*-partial/path", "https://invalid-*/path",
    "com.example.app:/oauth2redirect/example-provider", "com.example.app:/oauth2redirect",
    "com.example.app:/", "myapp:/callback", "COM.EXAMPLE.APP:/oauth2redirect",
    "com.example.app://oauth2redirect", "com.example.app:/oauth2redirect?state=xyz",
    "com.example.app:", "com.example.app://", "com.example.app:///oauth2redirect",
    "com.example.app:oauth2redirect", "com.example.app:/oauth2 redirect",
    "com.other.app:/oauth2redirect", "https:/example.com", "ws:/x", "wss:/x", "ftp:/x",
    "http://example.org", "http://example.com", "http://localhost", "http://127.0.0.1:5/x",
    "https://[::1]:8080/cb", "HTTPS://Example.COM/cb", "https://example.com/cb?",
    "https://localhost./", "https://ex\u00e4mple.com/", "https://user@example.com/cb",
    "https://exa mple.com", "https://a_b.example.com/", "https://example.com:1/cb",
    "https://" + "a" * 250, "https://" + "a" * 250 + ".com", "ftp://x", "invalid",
    "invalid-one", "https://[zz]", "https://[v1.x]/", "https://[1.2.3.4]/",
    "https://[::1]x/", "https://x[::1]/", "https://\u2100.com/", "https://[::1%25eth0]/",
    "com.example.app:/\u00e9", "myapp:/ ", "myapp:/\u00a0x", "myapp:/\u200bx", "myapp:/x\x1c",
    "\u0130myapp:/x", "my\u212aapp:/x", "myapp:/%", "myapp:/x?y#z", "myapp:x/y", "myapp:/x\n",
    " https://example.com", "\x00https://example.com", "https://example.com ",
    "\u00a0https://example.com", "https://example.com\n", "https://exa\nmple.com",
    "https://exa\tmple.com/cb", "ht\ttps://example.com", "https:\r//example.com",
    "https://example.com/" + "a" * 2028, "https://example.com/" + "a" * 2029,
    "https://*.example.com/" + "a" * 2027, "https://*.example.com/" + "a" * 2028,
    "https://example.com/" + "a" * 2029 + "\t", "https://[" + "1:" * 20 + "]",
    "https://[::1]:80]/", "https://[::1]:123456", "https://[::1]:", "https://[::1]:x",
    "https://u@[::1]:80/", "https://[u@]::1]/", "https://[::1]@x/", "https://a]@[::1]/",
    "https://a[@]b/", "https://[]/", "https://localhost:8000", "localhost:8000",
    "https://localhost", "https://local", "https://1.2.3.4", "https://1.2.3.04",
    "https://\u0663.example.com", "https://\uff11.example.com", "https://\U0001f600.com",
    "https://\U0001d7ce", "https://\u0130.com", "https://\u212a.com", "https://\u017f",
]


def tricky_char(rng):
    return rng.choice(
        "aZ09-._~:/?#[]@!$&'()*+,;=% \t\n\r\x00\x1f\x7f\u00a0\u00ad\u00e9\u0130\u0131\u017f"
        "\u212a\u0663\u2100\uff1a\u3000\u0085\ufeff\U0001f600\\\"<>^`{|}"
    )


def random_host(rng):
    roll = rng.random()
    if roll < 0.35:
        return rng.choice(HOST_SPECIALS)
    if roll < 0.5:
        return "".join(tricky_char(rng) for _ in range(rng.randint(0, 8)))
    labels = [rng.choice(LABELS) for _ in range(rng.randint(0, 3))]
    tld = rng.choice(TLDS)
    host = ".".join(labels + ([tld] if tld or not labels else []))
    if rng.random() < 0.05:
        host += "."
    return host


def structured(rng):
    return "".join(
        (
            rng.choice(PREFIXES),
            rng.choice(SCHEMES),
            rng.choice(SEPARATORS),
            rng.choice(USERINFO),
            random_host(rng),
            rng.choice(PORTS),
            rng.choice(TAILS),
            rng.choice(SUFFIXES),
        )
    )


def soup(rng):
    body = "".join(tricky_char(rng) for _ in range(rng.randint(0, 24)))
    head = rng.choice(["", "https://", "http://", "myapp:", "com.example.app:/", "https:", "//"])
    return head + body


def private_use(rng):
    scheme = rng.choice(["com.example.app", "myapp", "my-scheme", "MyApp", "git+ssh", "https",
                         "http", "ws", "bad", "1app", "\u0131app"])
    sep = rng.choice([":/", ":/", ":", "://", ":///", ":/\t/", ":\\"])
    path = rng.choice(["", "cb", "oauth2redirect", "a b", "x?y", "x#y", "\u00e9", "\u3000",
                       "/x", "x/", "%2F", "\u00a0", "\x1c", "\u200b", "?s=1", "#f"])
    return scheme + sep + path + rng.choice(SUFFIXES)


def domain_soup(rng):
    """Hosts that exercise Django's hostname/domain/TLD alternative (first character not ASCII)."""
    alphabet = ["a", "a", "\u00e9", "\u00e9", "-", "1", "\u0663", "\U0001f600", "_", "\u212a",
                "\u0131", "x", "n", "\uff11", "\u00a1", "\uffff", "%"]
    labels = []
    for _ in range(rng.randint(1, 4)):
        size = rng.choice([0, 1, 1, 2, 2, 3, 4, 62, 63, 64])
        label = "".join(rng.choice(alphabet) for _ in range(size))
        if rng.random() < 0.1:
            label = "xn--" + label
        labels.append(label)
    if rng.random() < 0.7:
        labels[0] = rng.choice(["\u00e9", "\u0430", "\u4f8b", "\U0001f600", "_", "\u00a1"]) + labels[0]
    host = ".".join(labels) + rng.choice(["", "", ".", ":8080", "/cb", "?q", ":x"])
    return rng.choice(["https://", "http://", "myapp://"]) + host


def ipv4_soup(rng):
    parts = [rng.choice(["0", "00", "1", "01", "9", "10", "99", "100", "199", "200", "249", "250",
                         "255", "256", "300", "999", "1000", "\u0663", ""])
             for _ in range(rng.randint(2, 5))]
    return "https://" + ".".join(parts) + rng.choice(["", "", "a", ".", ":80", "/", "x.com", "-"])


def bracket_soup(rng):
    alphabet = "[]:1f0g.%@v.x::F]" + "\u0663\u00e9 '\""
    body = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 14)))
    if rng.random() < 0.5:
        body = "[" + rng.choice(["::1", "fe80::1", "v1.a", "1.2.3.4", "::ffff:1.2.3.4", "1:2::3"]) + body
    return rng.choice(["https://", "http://", "https://u@", "myapp://"]) + body + rng.choice(
        ["", "/", "/cb", ":80", "?", "#"])


def random_code_point(rng):
    """Any code point but a surrogate, weighted towards the BMP and the specials."""
    while True:
        roll = rng.random()
        if roll < 0.15:
            cp = rng.randint(0, 0x7F)
        elif roll < 0.3:
            cp = rng.randint(0x80, 0x2FF)
        elif roll < 0.75:
            cp = rng.randint(0x300, 0xFFFF)
        else:
            cp = rng.randint(0x10000, 0x10FFFF)
        if not 0xD800 <= cp <= 0xDFFF:
            return chr(cp)


def unicode_soup(rng):
    """Arbitrary code points in the host, bare or in brackets (repr() and NFKC paths)."""
    body = "".join(random_code_point(rng) for _ in range(rng.randint(1, 6)))
    if rng.random() < 0.5:
        body = "[" + body + "]"
    elif rng.random() < 0.5:
        body = body + ".com"
    return rng.choice(["https://", "http://", "myapp://"]) + body + rng.choice(["", "/", ":1"])


def generate_uris():
    rng = random.Random(SEED)
    seen = set()
    uris = []

    def add(uri):
        if uri not in seen:
            seen.add(uri)
            uris.append(uri)

    for uri in FIXED:
        add(uri)
    for generator, count in (
        (structured, 900),
        (soup, 200),
        (private_use, 120),
        (domain_soup, 220),
        (ipv4_soup, 100),
        (bracket_soup, 150),
        (unicode_soup, 100),
    ):
        for _ in range(count * SCALE):
            add(generator(rng))
    return uris


def run(config, uri):
    validator = AllowedURIValidator(
        config["schemes"],
        config["name"],
        allow_path=config["allow_path"],
        allow_query=config["allow_query"],
        allow_fragments=config["allow_fragment"],
        allow_hostname_wildcard=config["allow_hostname_wildcard"],
    )
    try:
        validator(uri)
    except ValidationError as exc:
        messages = exc.messages
        assert len(messages) == 1, messages
        return False, messages[0]
    return True, None


def main():
    import argparse

    import oauth2_provider

    global SCALE, SEED
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=OUT)
    parser.add_argument("--scale", type=int, default=SCALE)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    SCALE, SEED = args.scale, args.seed

    uris = generate_uris()
    cases = []
    for index, config in enumerate(CONFIGS):
        for number, uri in enumerate(uris):
            # The first two configurations see every URI. To keep the file small the other
            # two see every third URI, and none of the 2 KB ones.
            if index >= 2 and (number % 3 or len(uri) > 1000):
                continue
            ok, message = run(config, uri)
            cases.append({"config": index, "uri": uri, "ok": ok, "message": message})
    doc = {
        "about": "Generated by tests/uri_golden/generate.py from DOT's AllowedURIValidator.",
        "python": sys.version.split()[0],
        "django": django.get_version(),
        "django_oauth_toolkit": oauth2_provider.__version__,
        "configs": CONFIGS,
        "cases": cases,
    }
    with open(args.out, "w", encoding="utf-8") as out:
        out.write("{\n")
        for key in ("about", "python", "django", "django_oauth_toolkit", "configs"):
            out.write(f"{json.dumps(key)}: {json.dumps(doc[key], ensure_ascii=False)},\n")
        out.write('"cases": [\n')
        out.write(",\n".join(json.dumps(c, ensure_ascii=False) for c in cases))
        out.write("\n]}\n")
    print(f"{len(uris)} URIs, {len(CONFIGS)} configurations, {len(cases)} cases -> {args.out}")


if __name__ == "__main__":
    main()
