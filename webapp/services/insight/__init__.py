"""Teaching insight: what a course's editors see of their learners — the roster and one
learner's record (``roster``), enrolling lists of people (``enrolling``), the gradebook
(``gradebook``), what is hard (``difficulty``), where learners stop and activity per
week (``funnel``, ``activity``) — each page a few aggregate queries whose number does
not grow with the data.
"""
