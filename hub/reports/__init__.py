"""Reports: what people read, computed from the store through the pure rules.

Owns the report queries (sessions, usage, billing, the yearly evaluation, occupancy, the
devices' health), the live board's read model, and the safety of the files handed on
(spreadsheet formulas). New report files (Excel, PDF, invoices, charts' data) go here.

May use every capability below it (`hub.doors`, `hub.intake`, `hub.presence`,
`hub.people`), `hub.store`, `hub.rules`, `hub.config`, `telecentre`; never the web side or
the CLI, which call it.
"""
