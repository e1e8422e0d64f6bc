"""Legacy web archives of the kernel lists: one module per archive, all behind :class:`~.base.WebArchive`.

Adding an archive is one module with its ``parse_page`` and its ``ARCHIVE``, and one entry in
:data:`ARCHIVES`; :func:`archive_for` picks the archive of a URL.
"""

from __future__ import annotations

from miner.errors import MinerError
from miner.fetch.archives import lkml_iu, lkml_org, mail_archive, marc
from miner.fetch.archives.base import WebArchive

ARCHIVES: dict[str, WebArchive] = {archive.name: archive for archive in
                                   (lkml_iu.ARCHIVE, marc.ARCHIVE, mail_archive.ARCHIVE, lkml_org.ARCHIVE)}
ARCHIVE_NAMES = tuple(ARCHIVES)


def archive_for(url: str, name: str | None = None) -> WebArchive:
    """The archive that reads pages of ``url``'s host (or the one ``name``d, for mirrors on other hosts)."""
    if name is not None:
        if name not in ARCHIVES:
            raise MinerError(f"{name!r}: unknown archive (one of {', '.join(ARCHIVE_NAMES)})")
        return ARCHIVES[name]
    for archive in ARCHIVES.values():
        if archive.serves(url):
            return archive
    hosts = ", ".join(archive.hosts[0] for archive in ARCHIVES.values())
    raise MinerError(f"{url}: not a page of a supported archive ({hosts})")
