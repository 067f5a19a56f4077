"""`python -m bot` starts the bot, the same as `lcm-bot run`."""

import sys

from bot.cli import main

sys.exit(main(["run", *sys.argv[1:]]))
