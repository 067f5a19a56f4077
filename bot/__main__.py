"""`python -m bot …` is `lcm-bot …`: the same commands, options and exit statuses."""

import sys

from bot.cli import main

sys.exit(main())
