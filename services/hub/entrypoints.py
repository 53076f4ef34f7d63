"""The hub's RPCs, one mixin per part (composed by :class:`mosaic_hub.service.HubService`, which
gives them ``ctx`` and ``data``). Every call is the caller's own: the tenant, user and roles come
from the RPC context, never from arguments."""
from __future__ import annotations

from mosaic.entrypoints import rpc
from mosaic.errors import ValidationFailed
from mosaic.request_log import write_once
from mosaic_hub import approvals, notifications


class NotificationsRpc:
    """The caller's notifications: a keyset-paged list, the unread count, marking read."""

    @rpc
    def notifications(self, unread_only=False, limit=50, cursor=None):
        """The caller's notifications (to them or to one of their roles), newest first:
        ``{"items", "next_cursor", "unread"}``."""
        ctx = self.ctx.tenant()
        session = self.data.session
        page = notifications.list_for(session, ctx.user_id, ctx.roles, bool(unread_only), limit, cursor)
        page["unread"] = notifications.unread_count(session, ctx.user_id, ctx.roles)
        return page

    @rpc
    def unread_notifications(self):
        """``{"unread": n}``: how many of the caller's notifications are unread."""
        ctx = self.ctx.tenant()
        return {"unread": notifications.unread_count(self.data.session, ctx.user_id, ctx.roles)}

    @rpc
    @write_once
    def mark_notifications_read(self, ids):
        """Mark the caller's notifications ``ids`` read: ``{"marked": n, "unread": n}``."""
        ctx = self.ctx.tenant()
        if not isinstance(ids, (list, tuple)) or not all(isinstance(i, str) for i in ids):
            raise ValidationFailed("ids must be a list of notification ids", errors={"ids": ["a list of strings"]})
        session = self.data.session
        marked = notifications.mark_read(session, ctx.user_id, ctx.roles, ids)
        return {"marked": marked, "unread": notifications.unread_count(session, ctx.user_id, ctx.roles)}


class ApprovalsRpc:
    """The approvers' inbox of every module."""

    @rpc
    def approvals(self, status="pending", limit=100, cursor=None, objects=None):
        """Approvals of ``status`` the caller may decide (all of them for an admin), oldest request
        first: ``{"items", "next_cursor"}``; ``objects`` limits them to the objects the caller may
        read (the gateway passes them)."""
        ctx = self.ctx.tenant()
        return approvals.list_for(self.data.session, ctx, status, limit, cursor,
                                  None if objects is None else list(objects))
