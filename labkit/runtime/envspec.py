"""What the runtime writes for a service to start from (`.run/<part>/env/<service>.json`): only the
variables the service reads, in a file only the owner can read (0600, in a 0700 directory; written by
`safefs.write_private`)."""
from __future__ import annotations

from common.settings import Settings

# What a service process needs from the caller's environment besides its settings: PATH (the broker scripts
# and the JVM find their tools), HOME (the Erlang cookie; overridden for RabbitMQ), locale and time zone (text
# encoding and log times), TMPDIR, and the user's name (Erlang and Java look it up). Everything else (tokens,
# passwords, cloud credentials of the calling shell) stays out of the spec files the services start from.
PROCESS_VARS = frozenset({"PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE",
                          "LC_MESSAGES", "TZ", "TMPDIR", "JAVA_HOME"})


def settings_vars() -> frozenset[str]:
    """The environment variables `Settings` reads: each field's upper-case name and any alias it declares."""
    names = set()
    for name, field in Settings.model_fields.items():
        names.add(name.upper())
        alias = field.validation_alias or field.alias
        choices = getattr(alias, "choices", [alias]) if alias is not None else []
        names.update(str(c).upper() for c in choices if isinstance(c, str))
    return frozenset(names)


def service_environment(env: dict[str, str]) -> dict[str, str]:
    """The part of `env` a service reads: its settings and what the process itself needs (PROCESS_VARS)."""
    keep = settings_vars() | PROCESS_VARS
    return {k: v for k, v in env.items() if k.upper() in keep}
