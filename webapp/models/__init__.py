"""All models, imported here so Alembic and the app see one metadata."""

from webapp.models.audit import AuditEvent, SecurityEvent
from webapp.models.authoring import (
    CourseEditor,
    CourseRevision,
    LessonProposal,
    LessonRevision,
)
from webapp.models.base import Base
from webapp.models.branches import Branch, BranchProgress, BranchRequest
from webapp.models.community import (
    Announcement,
    CalendarFeed,
    Channel,
    ChannelMessage,
    Event,
    EventRsvp,
    Flag,
    Notification,
    PostRevision,
    QaAnswer,
    QaQuestion,
    QaVote,
)
from webapp.models.content_generation import ContentGeneration
from webapp.models.courses import (
    Course,
    CoursePrerequisite,
    CourseTag,
    Lesson,
    Module,
    Section,
    Tag,
)
from webapp.models.insight import InsightSnapshot
from webapp.models.jobs import AudioAsset, GenerationJob, ProviderCall
from webapp.models.mail import OutgoingMail
from webapp.models.maintenance import MaintenanceTask
from webapp.models.moderation import Appeal, ModerationAction, ModerationItem
from webapp.models.notifications import NotificationPreference
from webapp.models.progress import (
    Bookmark,
    Certificate,
    Enrollment,
    LessonProgress,
    Note,
    SectionProgress,
)
from webapp.models.quizzes import (
    AcceptedAnswer,
    Answer,
    AnswerChoice,
    Attempt,
    Choice,
    Question,
    Quiz,
)
from webapp.models.site import SiteSetting
from webapp.models.tokens import AccountToken
from webapp.models.users import User, UserSession

__all__ = [
    "AcceptedAnswer",
    "AccountToken",
    "Announcement",
    "Answer",
    "AnswerChoice",
    "Appeal",
    "Attempt",
    "AudioAsset",
    "AuditEvent",
    "Base",
    "Bookmark",
    "Branch",
    "BranchProgress",
    "BranchRequest",
    "CalendarFeed",
    "Certificate",
    "Channel",
    "ChannelMessage",
    "Choice",
    "ContentGeneration",
    "Course",
    "CourseEditor",
    "CoursePrerequisite",
    "CourseRevision",
    "CourseTag",
    "Enrollment",
    "Event",
    "EventRsvp",
    "Flag",
    "GenerationJob",
    "InsightSnapshot",
    "Lesson",
    "LessonProgress",
    "LessonProposal",
    "LessonRevision",
    "MaintenanceTask",
    "ModerationAction",
    "ModerationItem",
    "Module",
    "Note",
    "Notification",
    "NotificationPreference",
    "OutgoingMail",
    "PostRevision",
    "ProviderCall",
    "QaAnswer",
    "QaQuestion",
    "QaVote",
    "Question",
    "Quiz",
    "Section",
    "SectionProgress",
    "SecurityEvent",
    "SiteSetting",
    "Tag",
    "User",
    "UserSession",
]
