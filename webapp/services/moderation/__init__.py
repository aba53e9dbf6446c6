"""Moderation: one queue for everything users and the AI write (``queue``), who may act
(``access``), actions on content and on people, appeals, and the transparency report.

Every action is one transaction with its audit row and its ``ModerationAction`` row;
two moderators acting on one item at once: a conditional UPDATE on the queue item lets
one through, the other gets ``Conflict``.
"""
