"""Old path of `connectors.cps.mqtt`, kept so existing imports work.

At run time the module object is the same (`sys.modules` alias), so patching
an attribute here patches the transport itself; the names are re-exported for
type checkers.
"""

import sys

from .cps import mqtt as _module
from .cps.mqtt import (
    DEFAULT_PORT,
    DEFAULT_PREFIX,
    FIRST_MESSAGE_TIMEOUT,
    IDENTIFY_TIMEOUT,
    SCHEMA,
    CpsMqttConnector,
    Message,
    SchemaError,
    parse_message,
)

__all__ = [
    "DEFAULT_PORT",
    "DEFAULT_PREFIX",
    "FIRST_MESSAGE_TIMEOUT",
    "IDENTIFY_TIMEOUT",
    "SCHEMA",
    "CpsMqttConnector",
    "Message",
    "SchemaError",
    "parse_message",
]

sys.modules[__name__] = _module
