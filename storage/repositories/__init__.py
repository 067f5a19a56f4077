"""One repository per aggregate; every method is one short transaction."""

from storage.repositories.guilds import UNSET, GuildRepository
from storage.repositories.jobs import MAX_RUNS, JobRepository
from storage.repositories.presets import PresetRepository
from storage.repositories.users import DeletedUserData, UserRepository

__all__ = [
    "MAX_RUNS",
    "UNSET",
    "DeletedUserData",
    "GuildRepository",
    "JobRepository",
    "PresetRepository",
    "UserRepository",
]
