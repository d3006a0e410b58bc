"""Minimal Django project hosting django-oauth-toolkit 3.4.1 for oauthctl's interop suite.

Chosen by environment:
  INTEROP_BACKEND        sqlite | postgres | mysql
  INTEROP_DB_NAME        SQLite file path, or the server database's name
  OIDC_RSA_PRIVATE_KEY   PEM of an RSA private key (generated per run by run.sh); OIDC is on when set
  INTEROP_USE_TZ         USE_TZ (true|false; default true)
  INTEROP_TIME_ZONE      TIME_ZONE (default UTC)
  INTEROP_DB_TIME_ZONE   the database's own TIME_ZONE (DATABASES["default"]["TIME_ZONE"]; default unset)
Servers: PostgreSQL at 127.0.0.1:5432 as postgres (trust), MariaDB/MySQL at 127.0.0.1:3306 as root.
"""
import os

BACKEND = os.environ.get("INTEROP_BACKEND", "sqlite")
DB_NAME = os.environ.get("INTEROP_DB_NAME", "interop.sqlite3")

if BACKEND == "mysql":
    # PyMySQL stands in for mysqlclient; Django 5.2 wants mysqlclient >= 1.4.3 by version_info.
    import pymysql

    if pymysql.version_info < (1, 4, 3):
        pymysql.version_info = (1, 4, 6, "final", 0)
    pymysql.install_as_MySQLdb()

SECRET_KEY = "interop-suite-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "oauth2_provider",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

ROOT_URLCONF = "interop_project.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.contrib.auth.context_processors.auth"]},
    }
]

if BACKEND == "sqlite":
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": DB_NAME}}
elif BACKEND == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": DB_NAME,
            "USER": os.environ.get("INTEROP_PG_USER", "postgres"),
            "HOST": os.environ.get("INTEROP_PG_HOST", "127.0.0.1"),
            "PORT": os.environ.get("INTEROP_PG_PORT", "5432"),
        }
    }
elif BACKEND == "mysql":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.mysql",
            "NAME": DB_NAME,
            "USER": os.environ.get("INTEROP_MYSQL_USER", "root"),
            "PASSWORD": "",
            "HOST": os.environ.get("INTEROP_MYSQL_HOST", "127.0.0.1"),
            "PORT": os.environ.get("INTEROP_MYSQL_PORT", "3306"),
            "OPTIONS": {"charset": "utf8mb4"},
        }
    }
else:
    raise RuntimeError(f"INTEROP_BACKEND must be sqlite, postgres or mysql, not {BACKEND!r}")

if os.environ.get("INTEROP_DB_TIME_ZONE"):
    DATABASES["default"]["TIME_ZONE"] = os.environ["INTEROP_DB_TIME_ZONE"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Django's default list (PBKDF2 first, Argon2 included), spelled out so the suite does not depend on it.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]

USE_TZ = os.environ.get("INTEROP_USE_TZ", "true").lower() in ("1", "true", "yes")
TIME_ZONE = os.environ.get("INTEROP_TIME_ZONE", "UTC")
LANGUAGE_CODE = "en-us"
USE_I18N = True

_rsa_key = os.environ.get("OIDC_RSA_PRIVATE_KEY", "")
OAUTH2_PROVIDER = {
    "SCOPES": {"read": "Reading scope", "write": "Writing scope", "openid": "OpenID Connect scope"},
    "OIDC_ENABLED": bool(_rsa_key),
    "OIDC_RSA_PRIVATE_KEY": _rsa_key,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"null": {"class": "logging.NullHandler"}},
    # The suite provokes 401s on purpose; keep Django's request log quiet.
    "loggers": {"django.request": {"handlers": ["null"], "propagate": False}},
}
