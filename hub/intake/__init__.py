"""Intake: what comes in from the doors and goes straight back out.

Owns the MQTT ingest (events and statuses into the store, acknowledged after commit), the
end-to-end Acks to each device, the in-process live publish/subscribe the console's boards
wait on, the occupancy published for each site's screen, and the time series in InfluxDB.

May use: `hub.presence` (each batch runs the engine in its transaction), `hub.people`,
`hub.store`, `hub.rules`, `hub.config`, `telecentre`. Never the web side (`hub.web`,
`hub.api`, `hub.console`), `hub.cli`, `hub.doors` or `hub.reports`.
"""
