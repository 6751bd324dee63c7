"""`python -m bot` is the `bananabot` command."""

import sys

from bot.cli import main

sys.exit(main())
