"""Demo courses: one folder per course (course.toml + lesson Markdown), read by
``webapp.services.demo``."""
