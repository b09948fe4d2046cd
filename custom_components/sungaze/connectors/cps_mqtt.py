"""Old path of `connectors.cps.mqtt`, kept so existing imports work.

At run time the module object is the same (`sys.modules` alias), so patching
an attribute here patches the transport itself; the names are re-exported for
type checkers.
"""

import sys

from .cps import mqtt as _module
from .cps.mqtt import (
    DEFAULT_PORT as DEFAULT_PORT,
    DEFAULT_PREFIX as DEFAULT_PREFIX,
    FIRST_MESSAGE_TIMEOUT as FIRST_MESSAGE_TIMEOUT,
    IDENTIFY_TIMEOUT as IDENTIFY_TIMEOUT,
    SCHEMA as SCHEMA,
    CpsMqttConnector as CpsMqttConnector,
    Message as Message,
    SchemaError as SchemaError,
    parse_message as parse_message,
)

sys.modules[__name__] = _module
