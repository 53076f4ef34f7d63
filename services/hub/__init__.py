"""The hub: the one owner of users' notifications and the approvers' inbox (and, composed in by
its own mixin, webhook subscriptions). A platform service: it runs for every tenant and is not a
module a tenant enables (``ServiceSpec.module=False``)."""
