"""The typed ORM schema: users, guild settings, presets, and jobs (the journal and the history)."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Stable constraint names, so Alembic batch mode on SQLite can find and drop them by name later.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Discord's limit on a choice/option string; preset names are typed into such options.
PRESET_NAME_LENGTH = 100


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware.

    SQLite keeps no zone and hands back naive values while PostgreSQL hands back aware ones;
    this makes both look the same to the code above.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware one (UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.CANCELLED)


class NsfwPolicy(enum.StrEnum):
    BLOCK = "block"
    SPOILER = "spoiler"
    ALLOW_IN_NSFW_CHANNELS = "allow_in_nsfw_channels"


class PresetScope(enum.StrEnum):
    USER = "user"
    SERVER = "server"


class InputRole(enum.StrEnum):
    IMAGE = "image"
    MASK = "mask"


def _string_enum(enum_class: type[enum.StrEnum], name: str) -> Enum:
    # VARCHAR + CHECK rather than a native PostgreSQL ENUM: the same DDL on both databases, and
    # adding a value later is a plain batch migration instead of ALTER TYPE.
    return Enum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


class Base(AsyncAttrs, DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 (SQLAlchemy reads this class attribute as declared)
        datetime: UtcDateTime(),
        dict[str, Any]: JSON(),
        list[int]: JSON(),
        list[str]: JSON(),
        bytes: LargeBinary(),
    }


class Preset(Base):
    """A named set of generation parameters owned by one user or one server."""

    __tablename__ = "presets"
    __table_args__ = (UniqueConstraint("scope", "owner_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[PresetScope] = mapped_column(_string_enum(PresetScope, "preset_scope"))
    # A Discord user id for scope "user", a guild id for scope "server".
    owner_id: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(PRESET_NAME_LENGTH))
    parameters: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class User(Base):
    """A Discord user who has stored something: for now, the default preset."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    # Deleting the preset clears the default instead of leaving a dangling name behind.
    default_preset_id: Mapped[int | None] = mapped_column(
        ForeignKey("presets.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Guild(Base):
    """A server's settings. A missing row, or a None limit, means the bot's built-in value."""

    __tablename__ = "guilds"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    nsfw_policy: Mapped[NsfwPolicy] = mapped_column(
        _string_enum(NsfwPolicy, "nsfw_policy"),
        default=NsfwPolicy.BLOCK,
        server_default=NsfwPolicy.BLOCK.value,
    )
    cooldown_seconds: Mapped[int | None]
    max_queued_per_user: Mapped[int | None]
    max_count: Mapped[int | None]
    max_steps: Mapped[int | None]
    # Cells on one /sweep sheet; None is the bot's default (16). Never above 25 (the select menu).
    max_sweep_cells: Mapped[int | None]
    default_preset_id: Mapped[int | None] = mapped_column(
        ForeignKey("presets.id", ondelete="SET NULL")
    )
    # None allows every style on the operator's allow-list; a list narrows it to those names.
    allowed_styles: Mapped[list[str] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @classmethod
    def defaults(cls, guild_id: int) -> Guild:
        """The settings of a server that never changed any (not saved)."""
        now = utcnow()
        return cls(
            id=guild_id,
            nsfw_policy=NsfwPolicy.BLOCK,
            cooldown_seconds=None,
            max_queued_per_user=None,
            max_count=None,
            max_steps=None,
            max_sweep_cells=None,
            default_preset_id=None,
            allowed_styles=None,
            created_at=now,
            updated_at=now,
        )


class ChannelAccess(enum.StrEnum):
    ALLOW = "allow"
    DENY = "deny"


class RoleLimits(Base):
    """One role's limits in one server; a None field gives nothing beyond the server's value."""

    __tablename__ = "role_limits"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    role_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    cooldown_seconds: Mapped[int | None]
    max_queued_per_user: Mapped[int | None]
    max_count: Mapped[int | None]
    max_steps: Mapped[int | None]
    max_side: Mapped[int | None]  # the longer side of a picture, in pixels
    daily_images: Mapped[int | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ChannelRule(Base):
    """Where in a server the bot may be used, and a channel's default preset or style."""

    __tablename__ = "channel_rules"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    channel_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    access: Mapped[ChannelAccess | None] = mapped_column(
        _string_enum(ChannelAccess, "channel_access")
    )
    # Deleting the server preset clears the channel's default instead of leaving a dangling name.
    preset_id: Mapped[int | None] = mapped_column(ForeignKey("presets.id", ondelete="SET NULL"))
    style: Mapped[str | None] = mapped_column(String(PRESET_NAME_LENGTH))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class QuotaSettings(Base):
    """A server's daily quota: images per member per day (None: no quota) and the reset hour."""

    __tablename__ = "quota_settings"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    daily_images: Mapped[int | None]
    reset_hour: Mapped[int] = mapped_column(default=0, server_default="0")  # UTC, 0-23
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class QuotaUsage(Base):
    """Images a member was admitted in one server since ``period_start`` (the last reset)."""

    __tablename__ = "quota_usage"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    period_start: Mapped[datetime]
    images: Mapped[int] = mapped_column(default=0)


class Job(Base):
    """One generation request: written as queued before it is submitted, then kept as history."""

    __tablename__ = "jobs"
    __table_args__ = (
        # Both serve "newest first" too: a B-tree index is read backwards for ORDER BY ... DESC.
        Index("ix_jobs_user_recent", "user_id", "created_at"),
        Index("ix_jobs_guild_recent", "guild_id", "created_at"),
        Index("ix_jobs_status", "status"),
        Index("ix_jobs_created_at", "created_at"),
        # Without it, deleting a job scans the whole table for re-rolls that point at it.
        Index("ix_jobs_parent_id", "parent_id"),
        # Job ids end up in button custom_ids on Discord messages that outlive the row;
        # AUTOINCREMENT stops SQLite from handing a deleted newest id to a different job.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    guild_id: Mapped[int | None] = mapped_column(BigInteger)  # None for direct messages
    channel_id: Mapped[int] = mapped_column(BigInteger)
    command: Mapped[str] = mapped_column(String(32))
    parameters: Mapped[dict[str, Any]]
    seeds: Mapped[list[int]]
    status: Mapped[JobStatus] = mapped_column(
        _string_enum(JobStatus, "job_status"), default=JobStatus.QUEUED
    )
    # How many times a worker has started this job; recovery never lets it pass MAX_RUNS.
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    queue_seconds: Mapped[float | None] = mapped_column(Float)
    run_seconds: Mapped[float | None] = mapped_column(Float)
    result_channel_id: Mapped[int | None] = mapped_column(BigInteger)
    result_message_id: Mapped[int | None] = mapped_column(BigInteger)
    # Seeds of the posted pictures the safety check flagged; None when no check ran. The
    # showcase reads these, never the file names (an NSFW channel may show flagged ones plainly).
    flagged_seeds: Mapped[list[int] | None]
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    error: Mapped[str | None] = mapped_column(Text)


class JobInput(Base):
    """An uploaded image or mask, validated and stored so a queued job survives a restart.

    Discord attachment URLs expire, so the bytes themselves are kept until the job is deleted.
    """

    __tablename__ = "job_inputs"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[InputRole] = mapped_column(_string_enum(InputRole, "input_role"), primary_key=True)
    data: Mapped[bytes]


class BlockKind(enum.StrEnum):
    WORD = "word"
    REGEX = "regex"


# The longest blocklist pattern: the bot refuses longer ones before they get here.
BLOCK_PATTERN_LENGTH = 200


class ModerationSettings(Base):
    """A server's moderation channels (the moderators' log, the showcase) and who set each."""

    __tablename__ = "moderation_settings"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    log_channel_id: Mapped[int | None] = mapped_column(BigInteger)
    log_channel_set_by: Mapped[int | None] = mapped_column(BigInteger)
    showcase_channel_id: Mapped[int | None] = mapped_column(BigInteger)
    showcase_channel_set_by: Mapped[int | None] = mapped_column(BigInteger)
    # ⭐ reactions on a result that post it to the showcase as if its owner pressed the button.
    showcase_reactions: Mapped[int | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class BlocklistEntry(Base):
    """A word or regular expression a server's prompts may not contain."""

    __tablename__ = "blocklist_entries"
    __table_args__ = (UniqueConstraint("guild_id", "kind", "pattern"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guild_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[BlockKind] = mapped_column(_string_enum(BlockKind, "block_kind"))
    pattern: Mapped[str] = mapped_column(String(BLOCK_PATTERN_LENGTH))
    added_by: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ModLogEntry(Base):
    """One event for a moderators' log, journaled before it is posted (an outbox).

    ``event_key`` names the event ("posted:12"), so recording it twice keeps one entry; a row
    with no ``posted_at`` is posted at the next start, with its id as the message nonce.
    """

    __tablename__ = "mod_log_entries"
    __table_args__ = (
        UniqueConstraint("event_key"),
        Index("ix_mod_log_entries_posted_at", "posted_at"),
        # The id is the nonce Discord deduplicates a repeated post by: never hand it out twice.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guild_id: Mapped[int] = mapped_column(BigInteger)
    channel_id: Mapped[int] = mapped_column(BigInteger)
    event_key: Mapped[str] = mapped_column(String(100))
    content: Mapped[str] = mapped_column(Text)
    thumbnail: Mapped[bytes | None]  # a small PNG of a posted result
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    posted_at: Mapped[datetime | None]
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(default=0)


class ShowcasePost(Base):
    """A result posted to its server's showcase channel: one per result, however often pressed."""

    __tablename__ = "showcase_posts"

    job_id: Mapped[int] = mapped_column(
        ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    guild_id: Mapped[int] = mapped_column(BigInteger)
    channel_id: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[int | None] = mapped_column(BigInteger)  # None while it is being posted
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
