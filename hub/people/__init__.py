"""People and places: members and their badges, staff users, API tokens, the audit log, the
sites and members files, and the one reader of sites and members for the rules.

May use: `hub.store`, `hub.rules`, `hub.config`, `telecentre`. It is the lowest capability:
nothing here imports `hub.presence`, `hub.intake`, `hub.doors` or `hub.reports`, nor the
web side or the CLI.
"""
