"""The two kinds of user mistake: entry points print either as one `pairlab:` line, without a traceback."""


class DataError(ValueError):
    """Bad input data; the message names the file, line and the fix."""


class ConfigError(ValueError):
    """An invalid config value or combination of choices; the message names the keys and the fix."""
