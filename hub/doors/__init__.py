"""Doors: what the hub tells the sites' edges and what they raise.

Owns the signed access lists (who may enter where, when), enrolment of badges by tapping,
door commands from the console (opening for a visitor) and the door alarms.

May use: `hub.intake` (the live board's notifications), `hub.presence`, `hub.people`,
`hub.store`, `hub.rules`, `hub.config`, `telecentre`. Never `hub.reports`, the web side or
the CLI.
"""
