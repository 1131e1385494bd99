"""Project tenancy: who may read or change a project, and who owns a new one."""

from __future__ import annotations

from typing import Any

from edgehost.controlplane.conflicts import UNIQUE_VIOLATIONS
from edgehost.db.tables import Membership, Project
from edgehost.errors import ApiError

READ = ("owner", "developer", "viewer")
WRITE = ("owner", "developer")
ADMIN = ("owner",)


async def project_for(
    subject: str, name: str, roles: tuple[str, ...], *, create: bool = False
) -> dict[str, Any]:
    """The project row if `subject` holds one of `roles`; the first writer of a new name becomes its owner."""
    project = await Project.select().where(Project.name == name).first()
    if project is None:
        if not create:
            raise ApiError(404, "not_found", f"project {name!r} does not exist")
        try:
            async with Project._meta.db.transaction():
                row = Project(name=name)
                await row.save()
                await Membership(project=row.id, subject=subject, role="owner").save()
                return {"id": row.id, "name": name}
        except UNIQUE_VIOLATIONS:  # another request created it first; its creator owns it
            project = await Project.select().where(Project.name == name).first()
            if project is None:
                raise
    role = (
        await Membership.select(Membership.role)
        .where((Membership.project == project["id"]) & (Membership.subject == subject))
        .first()
    )
    if role is None or role["role"] not in roles:
        raise ApiError(403, "forbidden", f"{subject!r} may not {_verb(roles)} project {name!r}")
    return project


def _verb(roles: tuple[str, ...]) -> str:
    return {READ: "read", WRITE: "change", ADMIN: "administer"}.get(roles, "use")


async def projects_of(subject: str) -> list[str]:
    rows = await Membership.select(Membership.project.name).where(Membership.subject == subject)
    return sorted(row["project.name"] for row in rows)


async def add_member(project_id: int, subject: str, role: str) -> None:
    existing = (
        await Membership.objects()
        .where((Membership.project == project_id) & (Membership.subject == subject))
        .first()
    )
    if existing is None:
        await Membership(project=project_id, subject=subject, role=role).save()
    else:
        existing.role = role
        await existing.save()
