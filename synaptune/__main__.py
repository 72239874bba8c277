# SPDX-License-Identifier: MIT
"""``python -m synaptune`` is the ``synaptune`` command."""

import sys

from synaptune.cli import main

sys.exit(main())
