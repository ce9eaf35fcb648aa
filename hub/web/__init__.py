"""Web plumbing: the Flask app factory (the one place the API's and the console's
blueprints are registered), the HTTP server, security headers, per-route body limits and the
session signing key.

`hub.web.app` sits above `hub.api` and `hub.console` (it assembles them); the rest of this
package sits below them (they may use `hub.web.body_limits`, say). May use every capability,
`hub.store`, `hub.rules`, `hub.config`, `telecentre`; never `hub.service` or `hub.cli`.
"""
