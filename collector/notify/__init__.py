"""Notifications of ticket events: webhook and e-mail channels behind one queue
(:class:`~collector.notify.notifier.Notifier`)."""
