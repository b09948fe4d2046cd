"""Old path of `connectors.cps.mqtt`, kept so existing imports work.

The module object is the same (`sys.modules` alias), so patching an attribute
here patches the transport itself.
"""

import sys

from .cps import mqtt as _module

sys.modules[__name__] = _module
