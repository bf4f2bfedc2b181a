"""policy: permission profiles (what a server may touch) and request-time policy."""

from hivekeeper.policy.profiles import (
    BUILTIN_PROFILES,
    DEFAULT_PROFILE,
    Profile,
    builtin,
    load_profile,
    parse_memory,
    parse_volume,
    profile_from_data,
)

__all__ = [
    "BUILTIN_PROFILES",
    "DEFAULT_PROFILE",
    "Profile",
    "builtin",
    "load_profile",
    "parse_memory",
    "parse_volume",
    "profile_from_data",
]
