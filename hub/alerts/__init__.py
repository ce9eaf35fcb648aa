"""Alerts that reach people: forced doors, doors held open, doors offline, events lost by a
full edge memory and doors deciding from an old access list, told by e-mail to the site's
animators (as each chose, outside their quiet hours) and to the department's address.

`incidents.py` turns what is wrong now into incidents (one e-mail each, reminders at most
hourly), `recipients.py` says who hears of one, `messages.py` writes it in French. The hub's
mail thread runs the scan (`AlertScanner`) before each sending round (`hub/mail/worker.py`).

May use: `hub.reports` (device health) and everything below it, and `hub.mail`.
"""
