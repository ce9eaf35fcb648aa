"""Outgoing e-mail: a durable queue in the database (`queue.py`), the SMTP sender
(`smtp.py`), the thread of the hub that sends what is due (`worker.py`) and French
messages from text templates (`render.py`).

Whatever sends an e-mail (alerts, a member's sign-in link) queues it in its own transaction
(`queue.enqueue`): nothing leaves if that transaction rolls back, and nothing queued is lost
if the mail server or the hub is down; the mail thread delivers it once the server takes it.
"""
