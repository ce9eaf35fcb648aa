"""Words for the protocol's values (alarm kinds, deny reasons, door states), in the catalog."""

from __future__ import annotations

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l

ALARMS = {
    "door_forced": _l("door forced"),
    "door_held_open": _l("door held open"),
    "outbox_overflow": _l("events lost (device memory full)"),
}
DENY_REASONS = {
    "unknown": _l("unknown badge"),
    "revoked": _l("badge revoked"),
    "expired": _l("Pass expired"),
    "outside_hours": _l("outside opening hours"),
}
DOOR_MOMENTS = {
    "open": _l("opened"),
    "closed": _l("closed"),
    "exit_request": _l("exit button"),
    **ALARMS,
}

ACTIONS = {
    "user_created": _l("user created"),
    "retention": _l("retention rules applied"),
    "event_applied": _l("quarantined tap applied"),
    "event_dismissed": _l("quarantined tap dismissed"),
    "user_changed": _l("user changed"),
    "user_password_set": _l("password set"),
    "user_email_set": _l("user's e-mail set"),
    "user_disabled": _l("user disabled"),
    "user_enabled": _l("user enabled"),
    "token_created": _l("API token created"),
    "token_revoked": _l("API token revoked"),
    "alarm_acknowledged": _l("alarm acknowledged"),
    "door_opened": _l("door opened from the console"),
    "door_open_refused_offline": _l("door not opened: device offline"),
    "import": _l("file imported"),
    "member_exported": _l("member's data exported"),
    "member_erased": _l("member's data erased"),
    "billing_closed": _l("month closed, invoices issued"),
    "member_created": _l("member created"),
    "member_updated": _l("member changed"),
    "member_deactivated": _l("member deactivated (badges revoked)"),
    "badge_assigned": _l("badge given"),
    "badge_revoked": _l("badge revoked"),
    "session_check_in": _l("manual check-in"),
    "session_check_out": _l("manual check-out"),
    "session_corrected": _l("session corrected"),
    "site_created": _l("site created"),
    "site_updated": _l("site changed"),
    "member_code_issued": _l("one-time code made for the member space"),
    "member_signed_in": _l("member signed in to their space"),
    "badge_reported_lost": _l("badge reported lost by its member"),
    "member_erasure_requested": _l("member asked for their data to be erased"),
}


def _label(table: dict[str, LazyString], value: str | None) -> str:
    if value is None:
        return "–"
    return str(table.get(value, value))


def alarm_label(kind: str | None) -> str:
    return _label(ALARMS, kind)


def deny_label(reason: str | None) -> str:
    return _label(DENY_REASONS, reason)


def door_label(what: str | None) -> str:
    return _label(DOOR_MOMENTS, what)


def action_label(action: str | None) -> str:
    return _label(ACTIONS, action)


LABELS = {
    "alarm_label": alarm_label,
    "deny_label": deny_label,
    "door_label": door_label,
    "action_label": action_label,
}
