"""The command line, `telecentre-hub`: the service, imports, reports, retention, keys,
events, and the users and tokens sub-commands.

The top of the hub: may use anything in it. Nothing imports it.
"""
