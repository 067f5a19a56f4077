"""lcm-bot's Discord side: settings, the client, one cog per feature, and the command line."""
