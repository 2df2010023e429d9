"""Path-traversal checks for archive member names and link targets."""

from __future__ import annotations

import posixpath
import re

from aiarmor.core.findings import Severity
from aiarmor.modelfiles.formats.common import ScanContext, safe_name

_DRIVE = re.compile(r"^[A-Za-z]:")


def escapes(name: str, base: str = "") -> bool:
    """True when ``name`` (relative to directory ``base``) leaves the extraction root."""
    if not name or "\\" in name or name.startswith("/") or _DRIVE.match(name):
        return bool(name)
    joined = posixpath.normpath(posixpath.join(base, name))
    return joined == ".." or joined.startswith("../") or joined.startswith("/")


def check_member_name(ctx: ScanContext, name: str, path: str, link: str | None = None) -> None:
    """Record ``scan.archive.traversal`` when a member name or link target escapes."""
    bad_name = escapes(name)
    bad_link = link is not None and escapes(link, posixpath.dirname(name))
    if bad_name or bad_link:
        target = f" -> {safe_name(link or '')}" if link is not None else ""
        ctx.add(
            "scan.archive.traversal",
            Severity.HIGH,
            "Archive member path escapes the extraction directory",
            f"Member {safe_name(name)}{target} would be written outside the target directory.",
            path,
            {"name": name, "link": link},
        )
