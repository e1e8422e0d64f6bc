"""The database schema as data: the store creates tables from it, docs and Datasette describe them from it."""

from __future__ import annotations

from dataclasses import dataclass

from miner.textstore import BODY_SQL, PROSE_SQL

SCHEMA_VERSION = 8  # 2: messages.notes; 3: rows of a thread go with it (ON DELETE CASCADE); 4: messages.kind;
#                     5: bugs, commits, commit_links;
#                     6: messages.date_precision, trailers.written_name/kind/applies_to/applies_via/copied;
#                     7: each text once (miner/textstore.py): body and prose virtual columns over
#                        messages.body_z/prose_spans/prose_z, raw mail in mail_blocks, zstd_dictionaries;
#                     8: a body_z may be compressed against its own raw mail (textstore.compress_against_raw).
#                        Schema 7 databases read as they are (nothing to migrate); an older lkml-miner
#                        refuses a schema 8 database instead of failing on its bodies.

# Rows derived from one thread (Table.of_thread: labels, evidence, what the classifier saw) point at
# it with ON DELETE CASCADE: when threads merge and one is deleted, SQLite deletes them too, and the
# classifier re-tags the thread that grew (its revision changed). The store never names those tables.
CASCADING_PARENT = ("threads", "thread_id")


@dataclass(frozen=True)
class Column:
    """One column: name, SQLite type, and what it means."""

    name: str
    type: str
    description: str
    generated: str | None = None  # a virtual column: computed from this SQL expression when read
    internal: bool = False  # how a value is kept, not what it is: not exported, hidden in Datasette


@dataclass(frozen=True)
class Table:
    """One table with its columns, primary key, foreign keys and indexes."""

    name: str
    description: str
    columns: tuple[Column, ...]
    pk: str | tuple[str, ...] | None = None
    foreign_keys: tuple[tuple[str, str, str], ...] = ()
    indexes: tuple[tuple[str, ...], ...] = ()
    unique_indexes: tuple[tuple[str, ...], ...] = ()
    of_thread: bool = False  # rows derived from one thread: deleted with it (ON DELETE CASCADE)
    without_rowid: bool = False  # the primary key is the table (no second copy of it in an index)
    dropped_indexes: tuple[str, ...] = ()  # indexes of earlier schema versions, dropped when found

    @property
    def exported_columns(self) -> tuple[Column, ...]:
        """The columns an export writes and documents: what a value is, not how it is kept (``internal``)."""
        return tuple(column for column in self.columns if not column.internal)


C = Column

TABLES: tuple[Table, ...] = (
    Table(
        "threads",
        "One row per thread: messages joined by References/In-Reply-To (public-inbox style).",
        (
            C("thread_id", "INTEGER", "Stable thread number; kept when a late parent arrives"),
            C("root_message_id", "TEXT", "Message-ID at the top of the tree (may be a ghost: never seen)"),
            C("subject", "TEXT", "Subject of the earliest real message"),
            C("base_subject", "TEXT", "That subject without Re:/[PATCH ...] prefixes"),
            C("first_date", "TEXT", "UTC date of the earliest real message (ISO 8601)"),
            C("last_date", "TEXT", "UTC date of the latest real message (ISO 8601)"),
            C("year", "INTEGER", "Year of first_date"),
            C("message_count", "INTEGER", "Real messages (ghosts excluded)"),
            C("ghost_count", "INTEGER", "Parents referenced but not in the archive"),
            C("participant_count", "INTEGER", "Distinct From addresses"),
            C("lists", "TEXT", "JSON array of list ids the messages came from"),
            C("has_patch", "INTEGER", "1 if any message carries a diff"),
            C("labels", "TEXT", "JSON array of classifier labels (deadlock, race, ordering)"),
            C("changed_at", "TEXT", "When a message was last added to the thread (UTC)"),
            C("revision", "INTEGER", "Goes up by one every time the thread changes"),
        ),
        pk="thread_id",
        indexes=(("first_date",), ("last_date",), ("year",)),
    ),
    Table(
        "messages",
        "One row per Message-ID. Ghost rows (ghost = 1) stand for parents not seen yet.",
        (
            C("message_id", "TEXT", "Message-ID without angle brackets"),
            C("thread_id", "INTEGER", "Thread this message belongs to"),
            C("ghost", "INTEGER", "1 if only referenced, never seen"),
            C("parent_id", "TEXT", "Direct parent: In-Reply-To, else last References entry"),
            C("subject", "TEXT", "Decoded Subject header"),
            C("base_subject", "TEXT", "Subject without Re:/Fwd:/[...] prefixes"),
            C("patch_tags", "TEXT", "JSON array of subject markers such as PATCH, RFC, RESEND"),
            C("patch_version", "INTEGER", "N of [PATCH vN]"),
            C("patch_index", "INTEGER", "i of [PATCH i/n]"),
            C("patch_total", "INTEGER", "n of [PATCH i/n]"),
            C("is_patch", "INTEGER", "1 if the body carries a diff or the subject says PATCH"),
            C("from_name", "TEXT", "Sender's display name"),
            C("from_email", "TEXT", "Sender's address (lower case)"),
            C("date", "TEXT", "UTC date (ISO 8601) from the Date header"),
            C("date_flagged", "INTEGER", "1 if the Date header was unusable and the archive date was used"),
            C("date_precision", "TEXT", "second, or day when the source shows only the day (a mail-archive.com"
              " thread page: date is that day at 00:00 UTC); NULL in rows stored before this column"),
            C("list_id", "TEXT", "List-Id of the first copy stored"),
            C("in_reply_to", "TEXT", "In-Reply-To Message-ID"),
            C("references", "TEXT", "JSON array of References Message-IDs, oldest first"),
            C("body", "TEXT", "Decoded text of the body (text parts, inline and attached patches). Virtual: read"
              " from the raw mail, or from body_z", generated=BODY_SQL),
            C("prose", "TEXT", "New prose only: no quoted lines, no diffs, no signature (full-text indexed)."
              " Virtual: the body lines named by prose_spans",
              generated=PROSE_SQL),
            C("kind", "TEXT", "What the message is (patch, cover-letter, reply, syzkaller-report, syzkaller-digest,"
              " robot-report, applied-notice, pull-request, stable-backport, tip-commit, report); set by"
              " `miner classify`"),
            C("raw_size", "INTEGER", "Size in bytes of the raw message"),
            C("message_id_synthetic", "INTEGER", "1 if the mail had no Message-ID and one was derived"),
            C("notes", "TEXT", "JSON array of what reading or parsing cut or noticed (limits on References,"
              " header size; separator-shaped lines kept in an mbox body), empty when nothing was"),
            C("added_at", "TEXT", "When this message was first stored (UTC)"),
            C("sha256", "BLOB", "SHA-256 of the raw mail (32 bytes; raw_messages shows it in hex)", internal=True),
            C("raw_block", "INTEGER", "mail_blocks row holding the raw mail (NULL for a ghost)", internal=True),
            C("raw_offset", "INTEGER", "Where the raw mail starts in the decompressed block", internal=True),
            C("raw_length", "INTEGER", "Its length in bytes", internal=True),
            C("body_at", "INTEGER", "Where the body's UTF-8 bytes start in the raw mail; NULL when they are not"
              " in it as they are (then body_z holds the body)", internal=True),
            C("body_length", "INTEGER", "Their length in bytes", internal=True),
            C("body_encoding", "TEXT", "quoted-printable or base64 when those bytes are the body so encoded"
              " (UTF-8 inside); NULL when they are the body itself", internal=True),
            C("body_z", "BLOB", "The body as UTF-8 in one zstd frame, only when it is not in the raw mail as it is"
              " (quoted-printable, base64, other charsets, several parts): its dictionary is the raw mail (raw_length"
              " bytes of the block from raw_offset, given by a skippable frame before it), or one of"
              " zstd_dictionaries", internal=True),
            C("prose_spans", "TEXT", "Byte ranges of the body's UTF-8 that make the prose, each a run of whole lines"
              " (\"0:120,514:700\", end excluded; joined by newlines and stripped), empty for no prose", internal=True),
            C("prose_z", "BLOB", "The prose as UTF-8 in one zstd frame with the kernel-mail dictionary of"
              " zstd_dictionaries, only when line ranges cannot give it back exactly", internal=True),
        ),
        pk="message_id",
        foreign_keys=(("thread_id", "threads", "thread_id"),),
        indexes=(("thread_id",), ("date",), ("from_email",)),
    ),
    Table(
        "mail_blocks",
        "The raw mail, byte for byte: the mails of one ingest batch concatenated in blocks of up to 8 MiB,"
        " each one zstd frame (a list's mail repeats its headers and quotes itself: a block takes about a"
        " quarter of its mail). messages.raw_block/raw_offset/raw_length place each message"
        " (python: miner.textstore.raw_bytes).",
        (
            C("block_id", "INTEGER", "Block number"),
            C("data", "BLOB", "One zstd frame (no dictionary) of the mails, in raw_offset order"),
        ),
        pk="block_id",
    ),
    Table(
        "zstd_dictionaries",
        "zstd dictionaries the compressed bodies of this database were written with (a frame names its own).",
        (
            C("dict_id", "INTEGER", "The dictionary id recorded in each frame that uses it"),
            C("data", "BLOB", "The dictionary (python: zstandard.ZstdCompressionDict(data))"),
            C("source", "TEXT", "Where it came from (miner/mail.zdict: trained by benchmarks/mail_dictionary.py)"),
        ),
        pk="dict_id",
    ),
    Table(
        "people",
        "Senders and trailer people, by address.",
        (
            C("email", "TEXT", "Address, lower case"),
            C("name", "TEXT", "Display name in their latest message"),
            C("first_seen", "TEXT", "Date of the earliest message from or naming them"),
            C("last_seen", "TEXT", "Date of the latest message from or naming them"),
        ),
        pk="email",
    ),
    Table(
        "trailers",
        "Signed-off-by, Reviewed-by, Fixes, Link... lines: the message that wrote each, and the patch it applies to.",
        (
            C("id", "INTEGER", "Row number"),
            C("message_id", "TEXT", "Message whose new text holds the trailer"),
            C("position", "INTEGER", "Order within the message"),
            C("name", "TEXT", "Trailer name, canonical spelling (Signed-off-by, Fixes...; Reveiwed-by is Reviewed-by)"),
            C("value", "TEXT", "Trailer value as written"),
            C("person_name", "TEXT", "Name part for person trailers"),
            C("person_email", "TEXT", "Address part for person trailers"),
            C("written_name", "TEXT", "Trailer name as written (Reveiwed-by, reported-and-tested-by...)"),
            C("kind", "TEXT", "person (the value names someone), utility (Fixes, Link, a URL...) or unknown"
              " (another Name: value line in a block of trailers), told by shape as b4 does"),
            C("applies_to", "TEXT", "Message-ID of the patch the trailer applies to: the patch itself for its own"
              " trailers, the patch a reply answers (up its parent chain) for follow-up trailers; NULL if none"),
            C("applies_via", "TEXT", "own (in the patch's commit message), reply (a follow-up to the patch) or"
              " cover (a follow-up to the cover letter: one row per patch of the series); NULL if no patch"),
            C("copied", "INTEGER", "0 for the row of the trailer as written; 1 for the further rows a cover-letter"
              " trailer gets, one per further patch (count trailers as written with copied = 0)"),
        ),
        pk="id",
        foreign_keys=(("message_id", "messages", "message_id"),),
        indexes=(("message_id",),),  # every reader finds trailers by message (schema 7 dropped name, person_email
        #                               and applies_to: 1.5 MiB of the btrfs epoch's 74 no query used)
        dropped_indexes=("idx_trailers_name", "idx_trailers_person_email", "idx_trailers_applies_to"),
    ),
    Table(
        "patch_files",
        "Files touched by diffs in a message.",
        (
            C("message_id", "TEXT", "Message carrying the diff"),
            C("path", "TEXT", "File path in the kernel tree"),
            C("subsystem", "TEXT", "First two path components (e.g. fs/btrfs)"),
            C("added", "INTEGER", "Added lines"),
            C("removed", "INTEGER", "Removed lines"),
        ),
        pk=("message_id", "path"),
        foreign_keys=(("message_id", "messages", "message_id"),),
        indexes=(("path",), ("subsystem",)),  # (WITHOUT ROWID would copy the key into both: larger)
    ),
    Table(
        "ingest_runs",
        "One row per `miner ingest` / scrape run.",
        (
            C("id", "INTEGER", "Run number"),
            C("command", "TEXT", "What was run"),
            C("started_at", "TEXT", "UTC start"),
            C("finished_at", "TEXT", "UTC end (empty if interrupted)"),
            C("status", "TEXT", "running, done or interrupted"),
            C("messages_read", "INTEGER", "Messages read from the inputs"),
            C("messages_new", "INTEGER", "Messages stored for the first time"),
            C("messages_updated", "INTEGER", "Messages stored before this run seen in a new copy, or ghosts of earlier runs filled in"),
            C("messages_rejected", "INTEGER", "Inputs that could not be parsed"),
            C("skipped", "INTEGER", "Inputs skipped (e.g. git commits without a blob)"),
        ),
        pk="id",
    ),
    Table(
        "provenance",
        "Every copy of a message we read: which file, URL or git commit, from which list, when.",
        (
            C("message_id", "TEXT", "Message-ID"),
            C("source_type", "TEXT", "mbox, maildir, eml, public-inbox, archive-page, lore, url..."),
            C("location", "TEXT", "File path, URL or git repository"),
            C("position", "TEXT", "Where in it: mbox offset, git commit, Maildir key"),
            C("list_id", "TEXT", "List this copy came through"),
            C("fetched_at", "TEXT", "When the copy was fetched from the network, if it was"),
            C("run_id", "INTEGER", "Ingest run that read it"),
            C("ingested_at", "TEXT", "When it was stored (UTC)"),
        ),
        pk=("message_id", "source_type", "location", "position"),
        foreign_keys=(("message_id", "messages", "message_id"), ("run_id", "ingest_runs", "id")),
        without_rowid=True,  # the key is the row: no second copy of it (an index by list_id would hold it again)
    ),
    Table(
        "rejects",
        "Input that could not be parsed, with the reason; the bytes are kept for inspection.",
        (
            C("id", "INTEGER", "Row number"),
            C("run_id", "INTEGER", "Run that met it"),
            C("location", "TEXT", "File, URL or repository"),
            C("position", "TEXT", "Where in it"),
            C("reason", "TEXT", "Why it was rejected"),
            C("raw", "BLOB", "zstd-compressed bytes"),
            C("rejected_at", "TEXT", "UTC time"),
        ),
        pk="id",
        unique_indexes=(("location", "position"),),
    ),
    Table(
        "source_state",
        "Resume points of incremental sources (e.g. the last ingested commit of a public-inbox epoch).",
        (
            C("source", "TEXT", "Source key, e.g. public-inbox:/path/to/0.git"),
            C("state", "TEXT", "Resume point"),
            C("updated_at", "TEXT", "UTC time"),
        ),
        pk="source",
    ),
    Table(
        "labels",
        "Classifier labels per thread: one row per (thread, label) the classifier assigned.",
        (
            C("thread_id", "INTEGER", "Thread"),
            C("label", "TEXT", "deadlock, race or ordering"),
            C("score", "REAL", "Classifier score in [0, 1]"),
            C("classifier_version", "TEXT", "Version of the rules that produced it"),
        ),
        pk=("thread_id", "label"),
        foreign_keys=(("thread_id", "threads", "thread_id"),),
        indexes=(("label",),),
        of_thread=True,
    ),
    Table(
        "evidence",
        "Why a label was given: which pattern fired on which line of which message.",
        (
            C("id", "INTEGER", "Row number"),
            C("thread_id", "INTEGER", "Thread"),
            C("label", "TEXT", "Label the evidence supports"),
            C("subtype", "TEXT", "Taxonomy subtype code and name, e.g. 'D1 lock-order inversion (ABBA)'"),
            C("pattern", "TEXT", "Name of the classifier pattern that fired"),
            C("message_id", "TEXT", "Message holding the line"),
            C("line", "INTEGER", "1-based line number in the message body"),
            C("text", "TEXT", "The line itself"),
            C("quoted", "INTEGER", "1 if the line was quoted from an earlier message"),
            C("in_diff", "INTEGER", "1 if the line was inside a diff"),
            C("weight", "REAL", "Weight the pattern contributed"),
            C("classifier_version", "TEXT", "Version of the rules"),
        ),
        pk="id",
        foreign_keys=(("thread_id", "threads", "thread_id"), ("message_id", "messages", "message_id")),
        indexes=(("thread_id", "label"), ("message_id",), ("pattern",)),
        of_thread=True,
    ),
    Table(
        "classify_state",
        "What the classifier last saw of each thread, so a re-run only touches changed threads.",
        (
            C("thread_id", "INTEGER", "Thread"),
            C("classifier_version", "TEXT", "Version used"),
            C("thread_revision", "INTEGER", "threads.revision when it was classified"),
            C("classified_at", "TEXT", "UTC time"),
        ),
        pk="thread_id",
        foreign_keys=(("thread_id", "threads", "thread_id"),),
        of_thread=True,
    ),
    Table(
        "bugs",
        "One bug record per labelled thread: what it is about (locks, functions, detector), who found it, and"
        " how and when it was fixed. Rebuilt from the other tables by `miner classify` and `miner link-commits`;"
        " list columns are JSON arrays.",
        (
            C("thread_id", "INTEGER", "Thread"),
            C("root_message_id", "TEXT", "Message-ID at the top of the thread"),
            C("subject", "TEXT", "Subject of the thread's earliest message"),
            C("labels", "TEXT", "JSON array of classifier labels"),
            C("subtypes", "TEXT", "JSON array of taxonomy subtypes with their names (\"D2 self-deadlock /"
              " recursive locking (AA)\")"),
            C("locks", "TEXT", "JSON array of lock classes named by lockdep reports (&sqd->lock, sb_internal#2)"),
            C("functions", "TEXT", "JSON array of functions: report titles, KCSAN accesses, top call-trace frames"
              " that are not locking or reporting code"),
            C("tools", "TEXT", "JSON array of who found it: lockdep, KCSAN, KASAN, hung task, sleep-in-atomic, RCU,"
              " syzbot, kernel test robot, human"),
            C("syzbot_id", "TEXT", "syzbot bug id (Reported-by: syzbot+<id>@... or the dashboard extid)"),
            C("files", "TEXT", "JSON array of kernel paths the thread's diffs touch"),
            C("subsystems", "TEXT", "JSON array of their first two path components (fs/btrfs)"),
            C("first_report", "TEXT", "UTC date of the thread's first message"),
            C("first_report_message_id", "TEXT", "That message"),
            C("first_patch", "TEXT", "UTC date of the first message with a diff"),
            C("first_patch_message_id", "TEXT", "That message"),
            C("last_patch_version", "INTEGER", "Highest vN of the thread's patches (1 without a version)"),
            C("reviewers", "TEXT", "JSON array of {trailer, name, email, message_id, applies_to, series}:"
              " Reviewed-by/Acked-by/Tested-by given in the thread (cover-letter trailers apply to the series)"),
            C("fixes", "TEXT", "JSON array of {commit, subject, message_id}: Fixes: targets of the thread's patches"),
            C("applied", "TEXT", "JSON array of {commit, source, match, message_id, branch, date, release}: evidence"
              " of a merge (source: reply, patchwork-bot, commit-notice, git; match: applied-reply,"
              " notice-in-thread, notice-link, link, subject; subject is the weaker match)"),
            C("fix_status", "TEXT", "applied, reviewed, patch posted or no patch"),
            C("merged_at", "TEXT", "Earliest date of the applied evidence (commit date for git commits)"),
            C("built_at", "TEXT", "When the record was rebuilt (UTC)"),
        ),
        pk="thread_id",
        foreign_keys=(("thread_id", "threads", "thread_id"),),
        indexes=(("fix_status",), ("syzbot_id",), ("first_report",)),
        of_thread=True,  # a thread merged away takes its record with it; the next rebuild makes the new one
    ),
    Table(
        "commits",
        "Commits of a local kernel git clone that `miner link-commits` matched to a stored message.",
        (
            C("sha", "TEXT", "Full commit id"),
            C("repo", "TEXT", "Repository it was read from"),
            C("subject", "TEXT", "First line of the commit message"),
            C("author_name", "TEXT", "Author name"),
            C("author_email", "TEXT", "Author address (lower case)"),
            C("author_date", "TEXT", "Author date (UTC, ISO 8601)"),
            C("commit_date", "TEXT", "Committer date (UTC, ISO 8601)"),
            C("release", "TEXT", "First tag that contains it (git describe --contains), if the clone has tags"),
            C("read_at", "TEXT", "When link-commits read it (UTC)"),
        ),
        pk="sha",
        indexes=(("author_date",),),
    ),
    Table(
        "commit_links",
        "Which message a commit was matched to, and how (its Link:/Message-ID: trailer, or subject and author).",
        (
            C("sha", "TEXT", "Commit"),
            C("message_id", "TEXT", "Message it points at (the thread is that message's thread)"),
            C("match", "TEXT", "link (a Link:/Message-ID: trailer) or subject (same patch subject and author in"
              " the thread's time window: the weaker match)"),
            C("trailer", "TEXT", "The trailer or subject that matched"),
        ),
        pk=("sha", "message_id"),
        foreign_keys=(("sha", "commits", "sha"),),
        indexes=(("message_id",),),
    ),
    Table(
        "meta",
        "Key/value facts about this database (schema version...).",
        (C("key", "TEXT", "Key"), C("value", "TEXT", "Value")),
        pk="key",
    ),
    Table(
        "http_responses",
        "Raw HTTP cache of the scrapers: the latest response to each request, so parsing can re-run offline.",
        (
            C("request_key", "TEXT", "Method, URL and a hash of the form body"),
            C("method", "TEXT", "GET or POST"),
            C("url", "TEXT", "URL requested"),
            C("request_body", "TEXT", "Form body of a POST, if any"),
            C("status", "INTEGER", "HTTP status"),
            C("headers", "TEXT", "JSON object of response headers (lower-case names)"),
            C("body", "BLOB", "Response body as received (after Content-Encoding), zstd-compressed"),
            C("body_size", "INTEGER", "Size of the body in bytes"),
            C("etag", "TEXT", "ETag, sent back as If-None-Match"),
            C("last_modified", "TEXT", "Last-Modified, sent back as If-Modified-Since"),
            C("fetched_at", "TEXT", "UTC time the body was received"),
            C("checked_at", "TEXT", "UTC time the server last confirmed it (304)"),
        ),
        pk="request_key",
        indexes=(("url",),),
    ),
    Table(
        "scrapes",
        "Saved scrapes: each query 'miner scrape lore' ran, re-run by 'miner sync'.",
        (
            C("scrape_id", "INTEGER", "Row number"),
            C("source", "TEXT", "lore"),
            C("base_url", "TEXT", "Archive base URL, e.g. https://lore.kernel.org"),
            C("list_name", "TEXT", "Inbox name, e.g. lkml"),
            C("query", "TEXT", "Search query as given (may be empty)"),
            C("since", "TEXT", "Only messages dated on or after (YYYY-MM-DD)"),
            C("until", "TEXT", "Only messages dated up to (YYYY-MM-DD, inclusive)"),
            C("max_threads", "INTEGER", "At most this many search results (--limit), if set"),
            C("created_at", "TEXT", "UTC time it was first run"),
            C("last_run_at", "TEXT", "UTC time of the last complete run"),
            C("received_mark", "INTEGER", "Epoch seconds when the last complete run began (sync searches rt: from it)"),
        ),
        pk="scrape_id",
        unique_indexes=(("source", "base_url", "list_name", "query", "since", "until"),),
    ),
    Table(
        "scrape_threads",
        "Per-thread fetch state of a scrape: which matching messages had their thread fetched and stored.",
        (
            C("scrape_id", "INTEGER", "Scrape"),
            C("message_id", "TEXT", "A message the search matched; its thread was fetched through it"),
            C("status", "TEXT", "fetching (interrupted) or done"),
            C("thread_url", "TEXT", "URL of the thread mbox"),
            C("messages", "INTEGER", "Messages in the thread mbox"),
            C("fetched_at", "TEXT", "UTC time"),
        ),
        pk=("scrape_id", "message_id"),
        foreign_keys=(("scrape_id", "scrapes", "scrape_id"),),
    ),
)

@dataclass(frozen=True)
class View:
    """A view kept for readers of an earlier layout."""

    name: str
    description: str
    sql: str


VIEWS: tuple[View, ...] = (
    View("raw_messages", "Where the raw mail of each message is (schema 7 keeps it in mail_blocks; read it with"
         " miner.textstore.raw_bytes): message_id, sha256, raw_size, block_id, offset, length.",
         "SELECT message_id, lower(hex(sha256)) AS sha256, raw_size, raw_block AS block_id, raw_offset AS offset, raw_length AS length"
         " FROM messages WHERE raw_block IS NOT NULL"),
)

FTS_TABLE = "messages"
FTS_COLUMNS = ("subject", "prose")

TABLES_BY_NAME = {table.name: table for table in TABLES}


STORAGE_NOTES = """\
## How each text is kept (schema 7: each text once)

| what | kept as | read by |
|---|---|---|
| raw mail, byte for byte | `mail_blocks.data`: the mails of one ingest batch concatenated, up to 8 MiB a block, one zstd frame (level 3, 8 MiB window), the mails of a thread together; `messages.raw_block/raw_offset/raw_length` place each mail | `miner.textstore.raw_bytes(conn, message_id)`, `Store.raw_message`, `miner export --format mbox`, the raw link of `miner serve` |
| `messages.body` | virtual column `mail_body(...)`: the body's UTF-8 bytes where they stand in the raw mail (`body_at`, `body_length`; quoted-printable or base64 single parts decoded from it, `body_encoding`), else `body_z`, the body compressed with its own raw mail as the dictionary (a skippable frame first gives the raw mail's length; without raw mail, the dictionary of `zstd_dictionaries`) | any SQL on a connection with `miner.textstore.register_text_functions` (every connection lkml-miner opens, `miner sql`, Datasette through the plugin) |
| `messages.prose` | virtual column `mail_prose(...)`: byte ranges of the body, each a run of whole lines (`prose_spans`), else `prose_z` | the same; the FTS index reads it for snippets |
| full-text index | `messages_fts`, FTS5 with external content (`content=messages`): the index only, no second copy of subject or prose | `MATCH`, `snippet()` |
| SHA-256 of the raw mail | `messages.sha256`, 32 bytes; `raw_messages` (a view) shows it in hex | checks of byte-exactness |

Every text is stored once: the raw mail in a block; the body of plain text mail is a slice of it; the
prose is a list of the body's lines. Measured with `python benchmarks/disk.py`: the btrfs epoch
(20,000 messages, 154,710,342 bytes of mail) takes 76.7 MB (0.496 of its mail; before: 252 MB,
1.63), the virtualization epoch (15,000 messages, 176,080,690 bytes) 71.9 MB (0.408).

A connection without the functions (the `sqlite3` shell) reads every column but `body` and `prose`,
and cannot run `PRAGMA integrity_check` or `VACUUM` (both compute the virtual columns): use
`miner sql` or Python with `register_text_functions(conn)`. A database of schema 6 or older is
migrated when lkml-miner opens it (each text rewritten and compared with the old before the old
columns go, then `VACUUM`): the btrfs epoch's 252 MB database took 35 s and became 76.9 MB.
"""


def schema_markdown() -> str:
    """The schema as Markdown (tables and column meanings), for docs/schema.md."""
    lines = ["# Database schema", "", f"Schema version {SCHEMA_VERSION}. Generated from `miner/schema.py`.", "",
             STORAGE_NOTES]
    for table in TABLES:
        lines += [f"## `{table.name}`", "", table.description, "", "| column | type | meaning |", "|---|---|---|"]
        for column in table.columns:
            kept = " (virtual)" if column.generated else (" (storage)" if column.internal else "")
            lines.append(f"| `{column.name}` | {column.type}{kept} | {column.description} |")
        lines.append("")
    for view in VIEWS:
        lines += [f"## `{view.name}` (view)", "", view.description, "", f"`{view.sql}`", ""]
    lines += [
        f"Full-text search: `{FTS_TABLE}_fts` (FTS5) over `{', '.join(FTS_COLUMNS)}` of `messages`,",
        "kept in step by triggers. Quoted text and diffs are not indexed.",
        "",
    ]
    return "\n".join(lines)
