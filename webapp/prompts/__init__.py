"""Versioned prompt templates, ``<task>.v<N>.md`` (read by ``webapp.providers.text``).

Never edit a released version: add ``<task>.v<N+1>.md`` next to it. Generated
courses, lessons and branches record the version that wrote them.
"""
