"""The dashboard's door when it is reachable beyond this machine: a `shoplake serve` token.

The token comes from the page's ``?token=`` parameter or a password field, is checked
against the lake's ``_system.tokens`` and ``_system.grants`` (as the server checks it), and
each attempt, let in or turned away, goes to ``_system.audit``. The dashboard shows every
layer, so it needs ``SELECT`` on ``*``.
"""

from __future__ import annotations

import streamlit as st

from shoplake.observe.lake import LakeReader
from shoplake.share.access import AccessControl
from shoplake.share.audit import AuditEvent, AuditLog


@st.cache_resource
def _access(lake: str) -> tuple[AccessControl, AuditLog]:
    engine = LakeReader(lake).engine
    return AccessControl(engine), AuditLog(engine)


def _audit(lake: str, who: str, allowed: bool, detail: str) -> None:
    _, audit = _access(lake)
    audit.record(AuditEvent(who, "dashboard", ["*"], allowed, 200 if allowed else 403, detail))
    audit.flush()


def require_token(lake: str) -> bool:
    """Return whether the caller may see PII; stop the page if they may not enter. The
    token is checked again on every rerun, so a revoked one closes the page at once."""
    access, _ = _access(lake)
    token = st.session_state.get("shoplake_token") or st.query_params.get("token") or ""
    if not token:
        st.title("shoplake")
        token = st.text_input(
            "Token (shoplake token create NAME --grant 'SELECT:*')", type="password"
        )
    if not token:
        st.info("This dashboard is shared beyond its machine: enter a token to open it.")
        st.stop()
    caller = access.authenticate(token)
    opened = "shoplake_token" in st.session_state
    if caller is None:
        st.session_state.pop("shoplake_token", None)
        _audit(lake, "anonymous", False, "dashboard: no valid token")
        st.error("That token is not valid (unknown, revoked or mistyped).")
        st.stop()
    if not caller.may_select("*"):
        st.session_state.pop("shoplake_token", None)
        _audit(lake, caller.name, False, "dashboard: needs SELECT on *")
        st.error(
            f"{caller.name} may not open the dashboard: it needs SELECT on * "
            f"(shoplake grant {caller.name} SELECT '*')."
        )
        st.stop()
    if not opened:
        _audit(lake, caller.name, True, "dashboard: opened")
        st.session_state["shoplake_token"] = token
        if "token" in st.query_params:
            del st.query_params["token"]  # out of the address bar and the history
    return caller.sees_pii("*")
