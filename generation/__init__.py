"""lcm-bot generation core, in rooms: engine → modes → models and images; errors under them all."""
