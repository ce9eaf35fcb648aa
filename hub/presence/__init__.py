"""Presence: taps turned into sessions, and everything that writes or deletes sessions.

Owns the presence engine (stored taps to stored sessions), one place at a time, manual
corrections, retention and a member's rights (export, erasure), and the events as a person
looks for them (what became of a tap; applying or dismissing a quarantined one).

May use: `hub.people` (the sites' rules), `hub.store`, `hub.rules`, `hub.config`,
`telecentre`. Never `hub.intake`, `hub.doors`, `hub.reports`, nor the web side or the CLI.
"""
