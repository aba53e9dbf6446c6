"""The community around each course: who may take part, the rules every posting form
follows, and notifications. Questions and answers, channels, announcements, events and
flags each have a module here."""
