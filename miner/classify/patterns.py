"""The classifier's knowledge: a table of named patterns, one row per signal of the taxonomy.

Each pattern says which label (and taxonomy subtype) it is evidence for, how much it weighs
in new prose, where else it counts (subject, quoted text, added diff lines), and the contexts
that cancel it.  Regexes run on the *lower-cased* line.

``anchors`` are literal lower-case strings; every match of the pattern contains one of them.
The scanner finds anchors with one combined regex over the whole message and only runs a
pattern's own regex on the few lines where one of its anchors occurs.

Sources: ../shared/taxonomy.md (sections 2.1-2.4 and decisions D0-D9).
"""

from __future__ import annotations

from dataclasses import dataclass

LABELS = ("deadlock", "race", "ordering")

# Taxonomy subtypes (../shared/taxonomy.md, sections 2.1-2.3) by code, as evidence shows them.
SUBTYPE_NAMES = {
    "D1": "lock-order inversion (ABBA)",
    "D2": "self / recursive deadlock",
    "D3": "irq-safety inversion",
    "D4": "sleep in atomic context",
    "D5": "hang / blocked task / lost wakeup",
    "R1": "data race",
    "R2": "atomicity violation",
    "R3": "race-induced use-after-free",
    "R4": "missing locking or RCU protection",
    "R5": "lost wakeup / missed event",
    "O1": "memory barrier / acquire-release",
    "O2": "publish before initialise",
    "O3": "teardown order across contexts",
    "O4": "CPU-device (DMA/MMIO) ordering",
    "O5": "memory-model discussion",
}

# How much a match counts, by where the line is.  Quoted text is the thread's topic (D2) but
# repeats what another message said; diff lines count only for code patterns (in_diff > 0).
QUOTE_FACTOR = 0.65
DEEP_QUOTE_FACTOR = 0.6  # quoted two or more levels deep
TRAILER_FACTOR = 0.3  # Fixes:/Link: and request-pull titles name other commits (D2)
SUBJECT_FACTOR = 1.15
MAX_WEIGHT = 0.97

# Contexts that cancel a family of patterns (tricky negatives of the taxonomy).
LOCK_ORDER = (
    r"lock(?:ing|s)?[ -]?(?:order|nesting|inversion|hierarch|dependenc)|unlock order|"
    r"order(?:ing)? (?:of|between|in which) (?:the |these |both |two |\w+ )?(?:locks?|mutex|spinlock|rwsem|sem)|"
    r"(?:acquisition|locking|nesting) order|\block \w+ (?:before|after|first)|"
    r"\b(?:agi|agf)\b|ilock|_lock\b.{0,40}\b(?:before|after)\b|\bab-?ba\b|"
    r"(?:_lock|_mutex|_sem|_rwsem|\block|\bmutex(?:es)?)\b.{0,60}\border|dependency chain|"
    r"\border\b.{0,60}(?:_lock|_mutex|_sem|_rwsem|\block(?:s|ing)?|\bmutex(?:es)?)\b"
)
NOT_MEMORY_ORDER = (
    r"in order (?:to|for)|page order|folio order|slab order|high[- ]order|low[- ]order|order-\d|"
    r"order [<>=]|allocation order|alloc order|byte[- ]order|endian|sort(?:ed|ing)? order|"
    r"alphabetic|include order|header order|key order|bad key|order of (?:the )?(?:patch|series|commits?)|"
    r"patch(?:es)? order|(?:struct|field|member)s? (?:re)?order|for (?:better )?packing|padding|holes?\b|"
    r"kconfig|makefile|\bpci(?:e)?\b|relaxed ordering|\bbios?\b|\bi/o\b|block layer|zoned|"
    r"\bcqes?\b|ordered extent|ordered_|data=ordered|\braid\b|\bdisks?\b|\bdrives?\b|write cache|"
    r"\bblocks?\b|\bworkers?\b|checksum|submi(?:t|ssion)|write reordering|reverse order|"
    r"sequence of events|following (?:sequence|scenario)|"
    # probe, registration, boot or link order and ordered workqueues are not memory order (item 5)
    r"(?:probe|probing|registration|register|init(?:iali[sz]ation)?|load(?:ing)?|boot|link(?:ing|er)?|"
    r"module|call(?:back)?|unwind|teardown) order|ordered[_ ]w(?:ork)?q|alloc_ordered|"
    r"\border(?:ed|ing)? (?:list|array|tree|set|by)\b"
)
# Every order that is not an order of memory accesses between contexts: what the ordering
# patterns that read "order" or "before" are cancelled by.
OTHER_ORDER = LOCK_ORDER + r"|" + NOT_MEMORY_ORDER
# Lock verbs: "acquire and release the lock" is lock handling, not acquire/release ordering.
LOCK_VERBS = (
    r"(?:acquir|releas|tak|drop|grab|hold)\w* (?:and (?:acquir|releas)\w* )?(?:the |a |an |its |their |both )?"
    r"(?:\w+ )?(?:lock|mutex|spinlock|sem|rwsem|semaphore|refs?|reference|page|folio|buffer|resources?)s?\b|"
    r"lock (?:acquire|release)|(?:acquire|release)[/ -](?:and )?(?:release|acquire) (?:of )?(?:the )?"
    r"(?:\w+ )?(?:lock|mutex|sem|ref)"
)
# Mechanical documentation and tool work on the memory model is no ordering topic (D8).
MECHANICAL_CHORE = (
    r"\btypos?\b|spelling|grammar|whitespace|\burls?\b|broken links?|\.rst\b|rest (?:conversion|markup)|"
    r"formatting|fix(?:es|ed)? (?:the )?build|build (?:fix|error|failure|warning)|makefile|kconfig|"
    r"translation|copyright|spdx"
)
STORAGE_BARRIER = (
    r"nobarrier|barrier=|device barrier|scrub barrier|rcu_barrier|barrier_nospec|membarrier|"
    r"speculation barrier|journal barrier|layout barrier|flush barrier|barrier (?:bio|request|write)|"
    r"cache flush|\bfua\b|fs_barrier|_barrier\b|barrier_|write cache|\bdisks?\b|\bdrives?\b|"
    r"firmware|\braid\b|\bhdds?\b|\bssds?\b|spectre|mitigation|branch prediction|swapgs|usercopy|"
    r"\bibpb\b|rcu barrier|speculat|nospec|\blfence\b|\bcsdb\b|"
    # "barrier" as an obstacle
    r"barriers? (?:to|of) (?:entry|adoption|contribut\w*|use)|(?:language|entry|psychological) barrier"
)
# A message about disks, firmware, FUA or power loss uses "write barrier" in the storage sense.
STORAGE_MESSAGE = (
    r"firmware|\bfua\b|power[- ]?(?:loss|fail|cut)|write[- ]?cach|\bhdds?\b|\bssds?\b|nobarrier|"
    r"barrier=|(?<!on-)\bdisks?\b|\bdrives?\b|flush/fua|cache flush|\braid\d*\b|write hole"
)
# "concurrent" naming a feature or a tool, not things that race: concurrent direct I/O, KCSAN
CONCURRENCY_FEATURE = r"concurrent (?:direct|dio|writers? support|i/o|io\b)|kernel concurrency sanitizer"
# "race" as a contest: "in a race to the bottom", "bugs will race to see which", "race to idle"
CONTEST_RACE = (
    r"rac(?:e|es|ing) to (?:the )?(?:bottom|top|finish|finish line|first|win|market|see (?:which|who)|idle|"
    r"get there|be (?:the )?first)\b|\bin a race to\b|racing (?:team|car|club|fan)|horse rac|drag rac"
)
# Deadlocks in general as what a design avoids: "to prevent deadlocks." (not "deadlocks in X")
GENERIC_AVOIDANCE = (
    r"(?:prevent|avoid|avoiding|preventing)(?: possible| potential| any)? dead[ -]?locks\b"
    r"(?! (?:in|between|with|when|on|where|caused|due|if|during|while)\b)"
)
# A hedged guess that names nothing: "I guess it's a race condition, possibly triggered",
# "dels apparently have a race condition", "behaves more like a race condition than".  A guess
# that says between what ("maybe a race with the flusher") stays a claim.
GUESSED_RACE = (
    r"(?:\bi guess|\bi suppose|apparently|\bmaybe|perhaps|probably|seems? like|looks? like|more like|"
    r"sounds? like|some (?:kind|sort) of)[^.;]{0,30}\brace(?: condition)?\b"
    r"(?!\s+(?:condition|between|with|against|in|on|where|when|that|which|window|here|there))"
)
NEGATED = r"(?:\bno|\bnot|\bnon|n't|\bnever|\bwithout|\bnor|free of)[ -](?:\w+[ -]){0,4}"
# Column headers of a two-context interleaving diagram: "CPU0   CPU1", "Thread 1   Thread 2".
CONTEXT_HEADER = r"(?:cpu ?\d|thread ?[1-4ab]|t[1-4]|task ?[1-4ab]|process ?[1-4ab]|context ?[1-4ab])"
LOCKDEP_INFRASTRUCTURE = (
    r"non-static key|max_lockdep|lockdep_(?:un)?register_key|debug_locks_warn_on|"
    r"lockdep is turned off|locking bug in"
)


def WORD_START_ANCHORS(*words: str) -> tuple[str, ...]:  # noqa: N802 (reads as a constant)
    """Anchors for words that must start a word: "race" but not "trace", "hang" not "change"."""
    return tuple(f"\\b{word}" for word in words)


@dataclass(frozen=True)
class Pattern:
    """One named signal: where it fires, what it weighs, and what cancels it."""

    name: str
    label: str
    subtype: str
    weight: float
    regex: str
    anchors: tuple[str, ...]
    cancel: str | None = None  # regex on the lower-cased line that voids the match
    cancel_before: str | None = None  # regex on the three lines before the match
    cancel_message: str | None = None  # regex on the whole lower-cased message
    also: tuple[str, ...] = ()  # further labels the same match supports (D3, D4)
    in_quote: bool = True
    in_diff: float = 0.0  # factor for added (+) diff lines that are code, not comments
    in_subject: bool = True
    # (label, weight): the match weighs more when the message also gets that label.  Used
    # where the taxonomy asks for two things together, e.g. an order framed across racing
    # contexts (D5) rather than statement order in one path.
    stronger_with: tuple[str, float] | None = None
    signature: bool = False  # a machine-generated splat header (taxonomy 2.4): counts in robot logs
    name_of_subtype: str = ""  # filled from SUBTYPE_NAMES
    examples: tuple[str, ...] = ()  # real lines (lower-cased match) the pattern must match
    counter_examples: tuple[str, ...] = ()  # real lines it must not match (or that cancel it)


# The barrier instructions of arm64 and powerpc, as named in mail ("a dmb", "needs a dsb(st)", "lwsync").
ARCH_BARRIER_ANCHORS = ("dmb", "dsb", "lwsync", "hwsync", "eieio")
ARCH_BARRIER = r"\b(?:" + "|".join(ARCH_BARRIER_ANCHORS) + r")\b"
# A line that names a CPU barrier primitive ("should we add a smp_mb", "the wmb() here") speaks of
# memory ordering even in a mail about disks, where "barrier" alone means a write barrier: the
# storage-sense cancel of a whole message (STORAGE_MESSAGE) does not void it.
CPU_BARRIER_NAME = r"\bsmp_\w+|\b(?:dma_)?[rw]?mb\(\)|" + ARCH_BARRIER
# ... and so does a barrier named with what a CPU orders: "memory barrier", "barrier usage for
# Rmw atomic bitops" (a disk's barrier orders writes to the medium, not atomics or loads).
CPU_BARRIER_SENSE = CPU_BARRIER_NAME + r"|memory[- ]barrier|\batomics?\b|\bbitops?\b|\b(?:loads?|stores?) and\b"

DEADLOCK = (
    # --- machine-generated signatures (taxonomy 2.4)
    Pattern("lockdep_circular", "deadlock", "D1", 0.95,
            r"circular lock(?:ing)? dependenc", ("circular lock",), signature=True),
    Pattern("lockdep_recursive", "deadlock", "D2", 0.95,
            r"recursive locking", ("recursive lock",), signature=True),
    Pattern("lockdep_irq_inversion", "deadlock", "D3", 0.95,
            r"irq lock inversion|(?:soft|hard)irq-safe -> (?:soft|hard)irq-unsafe",
            ("irq lock inversion", "irq-safe ->"), signature=True),
    Pattern("lockdep_inconsistent_state", "deadlock", "D3", 0.95,
            r"inconsistent lock state|inconsistent \{(?:in-)?(?:soft|hard)irq",
            ("inconsistent lock", "inconsistent {"), signature=True),
    Pattern("lockdep_scenario", "deadlock", "D1", 0.9,
            r"unsafe locking scenario|\*\*\* deadlock \*\*\*", ("unsafe locking", "*** dead"), signature=True),
    Pattern("hung_task_report", "deadlock", "D5", 0.9,
            r"blocked for more than \d+ seconds|task hung in|\bhung[ _]tasks?\b",
            ("blocked for more", "hung"), signature=True,
            # "I have not seen a hung task timeout"; a soft-lockup panic is no blocked task (2.4);
            # "prevent hung task check in submit_bio_wait()" silences the detector during slow I/O
            cancel=NEGATED + r"hung|soft-?lockup|(?:prevent|avoid|suppress|silenc|disabl|quiet)\w* (?:\w+ ){0,2}hung"),
    Pattern("sleep_in_atomic_report", "deadlock", "D4", 0.92,
            r"sleeping function called from invalid context|scheduling while atomic|"
            r"invalid wait context|illegal context switch in rcu",
            ("invalid context", "while atomic", "invalid wait", "illegal context switch"), signature=True),
    Pattern("sleep_in_atomic", "deadlock", "D4", 0.7,
            r"(?:sleep|block|schedul)\w* (?:\w+ ){0,3}(?:in|from|inside|under|while in|with(?:in)?) "
            r"(?:an? |the )?(?:atomic|invalid|non-?sleepable|rcu read|irq-?disabled|interrupt) "
            r"(?:context|section|region)|\bmight_sleep\b|(?:cannot|can't|must not|mustn't) sleep\b",
            ("atomic context", "atomic section", "atomic region", "invalid context", "invalid section",
             "invalid region", "sleepable context", "sleepable section", "sleepable region", "rcu read",
             "disabled context", "disabled section", "disabled region", "interrupt context",
             "interrupt section", "interrupt region", "might_sleep", "not sleep", "t sleep")),
    Pattern("spinlock_debug_report", "deadlock", "D2", 0.85,
            r"spinlock recursion|spinlock lockup suspected", ("spinlock",), signature=True),
    # --- words (2.1 positive signals)
    Pattern("deadlock_word", "deadlock", "D1", 0.78,
            r"\bdead[ -]?lock(?:s|ed|ing|y)?\b", ("deadlock", "dead lock", "dead-lock"),
            cancel=r"deadlock[- ]free\b|\bno (?:possible )?dead[ -]?locks? (?:here|found|reported|detected)|"
                   # "it did not look like any usual kind of filesystem deadlock"
                   r"(?:not|n't|never) (?:\w+ )?(?:look|seem|sound|appear)\w* (?:\w+ )?like\b|" + NEGATED + r"dead[ -]?lock|"
                   + GENERIC_AVOIDANCE),
    # "disabled ... in HMZONED mode to prevent deadlocks": a design rationale naming no deadlock
    Pattern("deadlock_avoidance", "deadlock", "D1", 0.45, GENERIC_AVOIDANCE, ("deadlocks", "dead locks", "dead-locks")),
    Pattern("abba", "deadlock", "D1", 0.85, r"\bab-?ba\b", ("abba", "ab-ba")),
    Pattern("lock_inversion", "deadlock", "D1", 0.85,
            r"lock(?:ing)?[- ](?:order(?:ing)?[- ])?inversion|inversion of (?:the )?lock|"
            r"(?:aa|self)[- ]deadlock",
            ("inversion", "deadlock", "dead-lock", "dead lock")),
    Pattern("lock_order", "deadlock", "D1", 0.45,
            r"\b(?:un)?lock(?:ing)?[- ]order(?:ing)?\b|order(?:ing)? of (?:the |these |two )?locks?\b|"
            r"\block nesting\b|nesting order|reverse(?:d)? (?:lock(?:ing)? )?order",
            ("lock order", "lock-order", "locking order", "locking-order", "order of", "ordering of",
             "lock nesting", "nesting order", "reverse order", "reversed order", "reverse lock",
             "reversed lock")),
    Pattern("circular_wait", "deadlock", "D1", 0.72,
            r"circular (?:wait|dependenc(?:y|ies) (?:between|among|on|involving))|"
            r"wait(?:s|ing)? (?:for|on) each other|(?:wait|lock) cycle|cyclic (?:wait|dependenc)",
            ("circular", "each other", "wait cycle", "lock cycle", "cyclic wait", "cyclic dep"),
            cancel=r"refcount|reference|\bref\b|leak|include|header|module|kconfig|build|depmod|symbol|import"),
    Pattern("hang_word", "deadlock", "D5", 0.45,  # alone, as often a user's "system hangs" as a bug
            r"\bhang(?:s|ing|ed)?\b|\bhung\b", WORD_START_ANCHORS("hang", "hung"),
            cancel=r"hang(?:s|ing|ed)? (?:off|on to|onto|around|out|in there)|hang on[,.!]|"
                   r"hung_task_timeout|hung (?:task|up)|hung[ _]?(?:check|detector|timeout|watchdog)|"
                   # idioms: "a bunch of low hanging fruit", "get the hang of it"
                   r"hanging[- ]fruit|low[- ]hanging|the hang of|hang in there|hang tight|"
                   # a hang that ends is a stall: "hangs system for several seconds"
                   r"\b(?:hang|hung)\w* (?:\w+ ){0,3}for (?:several|a few|some|many|a couple of|\d+) "
                   r"(?:\w+ )?(?:seconds?|secs?|minutes?|mins?|ms|milliseconds?)\b|" + NEGATED + r"(?:hang|hung)"),
    Pattern("blocked_forever", "deadlock", "D5", 0.72,
            r"(?:wait|block|stuck|sleep|hang|hung|spin|stall|sit)\w* (?:\w+ ){0,4}"
            r"(?:forever|indefinitely|for ever)|(?:forever|indefinitely) (?:hang|hung|block|stuck|wait|sleep|spin)|"
            r"(?:stuck|blocked|hung) (?:in|on) "
            r"(?:\w+ )?(?:d state|uninterruptible)|"
            r"never (?:be )?(?:woken|wakes? up|completes?|makes? progress)\b|"
            r"(?:cannot|can't|can ?not|never|no) make (?:any )?(?:forward )?progress|"
            r"no forward progress",
            ("forever", "for ever", "indefinitely", "never", "progress", "d state", "uninterruptible"),
            # what hangs must be a task: a bit or a reference "left hanging forever" is a leak, a
            # "block group remaining RO forever" a state
            cancel=r"\bblock (?:groups?|devices?|layer|rsv)\b|\b(?:ro|read-only|readonly) forever|"
                   # "so it doesn't wait for the signal forever"; "stuck in D state for extreme amounts of time"
                   r"(?:n't|\bnot|\bnever|no longer) (?:\w+ ){0,3}(?:wait|block|stuck|hang|sleep|spin)\w* (?:\w+ ){0,4}"
                   r"(?:forever|indefinitely)|\bfor (?:extreme|long|large|huge|several|many|\d+) (?:\w+ ){0,2}"
                   r"(?:time|seconds?|minutes?|hours?)\b|"
                   r"(?:bits?|flags?|refs?|references?|refcounts?|counts?|space|pointers?|entr(?:y|ies)|objects?)"
                   r"(?: \w+){0,2} (?:hanging|dangling|sitting) (?:around )?(?:forever|indefinitely)|"
                   r"leav\w* (?:\w+ ){1,3}(?:hanging|dangling)"),
    Pattern("lost_wakeup", "deadlock", "D5", 0.72,
            r"(?:lost|missed|missing|miss(?:es|ing)?|lose|loses) (?:a |the |any )?wake[- ]?ups?\b|"
            r"never (?:be )?woken|no(?:body| one| task) (?:is |will be |gets )?(?:woken|wakes)|"
            r"(?:\bnot|n't) (?:be |get |been |being )?woken\b|"
            r"(?:doesn't|does not|won't|will not|never) (?:see|get|receive) the wake[- ]?up|"
            r"\bno wake[- ]?ups? (?:of|for)\b",
            ("wake", "woken"), also=("race",)),
    Pattern("race_causing_hang", "deadlock", "D5", 0.6,
            r"\brac(?:e|es|ing)\b.{0,80}\b(?:hang|hung|lockup|lock up|stuck|livelock|forever)|"
            r"\b(?:hang|hung|lockup|stuck|livelock)\w*\b.{0,80}\brac(?:e|es|ing)\b",
            WORD_START_ANCHORS("race", "raci")),
    Pattern("livelock", "deadlock", "D5", 0.82, r"\blive[ -]?lock(?:s|ed|ing)?\b", ("livelock", "live lock", "live-lock")),
    Pattern("lockup_word", "deadlock", "D5", 0.45,
            r"(?<!soft )(?<!hard )(?<!workqueue )\block ?ups?\b|\block(?:s|ed|ing) up\b",
            ("lockup", "lock up", "locks up", "locked up", "locking up"),
            cancel=r"soft lockup|hard lockup|soft-lockup|watchdog|lockup_detector|hung_task"),
    Pattern("d_state", "deadlock", "D5", 0.5,
            r"\bd state\b|\bd-state\b|uninterruptible (?:sleep|state|wait)",
            ("d state", "d-state", "uninterruptible")),
    Pattern("lockdep_report", "deadlock", "D1", 0.55,
            r"lockdep (?:splat|warning|warn|report|complain|trace|false positive)\w*|"
            r"lockdep (?:is |was )?(?:complaining|warning|reporting|unhappy)",
            ("lockdep",),
            cancel=NEGATED + r"lockdep|" + NEGATED + r"splat|"
                   r"(?:splat|warning|report)s? (?:\w+ ){0,2}(?:don't|do not|doesn't|does not|didn't|did not|never)\b",
            cancel_message=LOCKDEP_INFRASTRUCTURE),
)

RACE = (
    Pattern("kcsan_report", "race", "R1", 0.95,
            r"kcsan: data-race|data-race in |race at unknown origin|value changed: 0x",
            ("kcsan", "data-race in", "race at", "value changed"), signature=True),
    Pattern("data_race_word", "race", "R1", 0.85,
            r"\bdata[ -]?races?\b|\bdata_race\(|__data_racy",
            ("data race", "data-race", "datarace", "data_race", "data_racy"),
            in_diff=0.45, cancel=r"config_kcsan|kcsan\.rst"),
    Pattern("race_condition", "race", "R2", 0.85,
            r"\brace[ -]conditions?\b|\brace window\b|\bracing (?:with|against)\b|"
            r"\braces? (?:with|between|against)\b|\bracy\b|\braced\b|"
            r"\b(?:possible|potential|subtle|narrow|small|tiny|benign|harmless|nasty|real|"
            r"theoretical|this|that|the|a) race\b",
            WORD_START_ANCHORS("race", "racy", "raci"),
            cancel=NEGATED + r"rac(?:y|e|es|ing)\b|" + CONTEST_RACE + r"|" + GUESSED_RACE),
    Pattern("race_word", "race", "R2", 0.66,
            r"\brac(?:e|es|ing|iness)\b", WORD_START_ANCHORS("race", "raci"),
            cancel=CONTEST_RACE + r"|" + GUESSED_RACE + r"|" + NEGATED + r"rac"),
    Pattern("concurrent_access", "race", "R2", 0.35,
            r"\bconcurrent(?:ly)?\b|\bconcurrency\b", ("concurren",),
            cancel=CONCURRENCY_FEATURE),
    # A fix of a bug put down to things running at once: "fix memory leak due to concurrent append
    # writes", "Fix UAF during concurrent mount and device scan", "protect concurrent access to iommu
    # iotlb".  Unlike "concurrent fsyncs" (a workload) or "the rate is changing due to concurrent
    # load", the text says the concurrency causes the bug it fixes (R2/R3/R4).
    Pattern("concurrent_cause", "race", "R2", 0.6,
            r"\b(?:fix|fixes|fixed|fixing|avoid|avoids|prevent|prevents)\b.{0,80}?\b(?:due to|caused by|because of|"
            r"during|from|on|with) (?:a |an |the |two )?concurren(?:t|cy|tly)\b|"
            r"\bprotect\w* (?:against )?concurrent (?:access|modification|update|use|users?|writers?|readers?)|"
            # "uacce: fix concurrency of fops_open and uacce_remove": two paths that ran at once
            r"\bfix(?:es|ed|ing)? (?:the |a )?concurrency (?:issues? |problems? |bugs? )?(?:of|between|in|with)\b",
            ("concurren",),
            cancel=CONCURRENCY_FEATURE + r"|performance|throughput|scalab|contention"),
    Pattern("simultaneous", "race", "R2", 0.25,
            r"\bsimultaneous(?:ly)?\b|\bat the same time\b|\bin parallel\b",
            ("simultan", "same time", "in parallel")),
    Pattern("interleaving_diagram", "race", "R2", 0.35,
            rf"^[\s>|]*{CONTEXT_HEADER}\b[:)]?\s{{2,}}(?:\S+\s+)?{CONTEXT_HEADER}\b",
            tuple(f"\\b{who}\\b" for who in (
                "cpu0", "cpu 0", "cpu1", "thread1", "thread 1", "thread a", "t1", "task1", "task 1",
                "task a", "process 1", "process a", "context 1", "context a")),
            cancel_before=r"unsafe locking scenario"),
    Pattern("other_context", "race", "R2", 0.3,
            r"\b(?:an)?other (?:thread|cpu|task|process|context|caller|writer|reader)s?\b|"
            r"\b(?:different|multiple|two) (?:threads|cpus|tasks|writers)\b|"
            r"\binterleav(?:e|es|ed|ing)\b",
            ("other thread", "other cpu", "other task", "other process", "other context",
             "other caller", "other writer", "other reader", "two threads", "multiple threads",
             "different threads", "two cpus", "multiple cpus", "different cpus", "two tasks",
             "multiple tasks", "multiple writers", "two writers", "different tasks", "different writers",
             "interleav")),
    Pattern("concurrent_free", "race", "R3", 0.6,
            r"freed? (?:\w+ ){0,2}(?:by|from|in|on|while) (?:another|the other|a concurrent|"
            r"concurrent)|use[- ]after[- ]free.{0,60}\brac(?:e|es|ed|y|ing)\b|\brac(?:e|ing)\b.{0,60}use[- ]after[- ]free|"
            r"\buaf\b.{0,40}\brac(?:e|es|ed|y|ing)\b|\brac(?:e|ing)\b.{0,40}\buaf\b",
            ("another", "the other", "concurren") + WORD_START_ANCHORS("race", "raci", "racy", "uaf")),
    Pattern("unprotected_access", "race", "R4", 0.5,
            r"without (?:holding|taking|grabbing|acquiring|any) (?:the |any |a |its )?(?:\w+ )?"
            r"(?:lock|mutex|spinlock|rwsem|sem|locking)\b|"
            r"(?:not|isn't|is not|un)[ -]?protected by (?:the |any |a )?(?:\w+ )?"
            r"(?:lock|mutex|rcu|spinlock|rwsem)|lockless(?:ly)? (?:read|access|check|update|"
            r"modif)|(?:read|access|modif|updat|check)\w* (?:\w+ )?locklessly|"
            r"missing (?:lock|locking|rcu_read_lock|rcu protection)\b|"
            r"unlocked (?:read|access|write|check|update)|unsynchronized|"
            # the wrong lock (R4): "using a different lock than the one used to write them"
            r"(?:under|using|with|holding|taking|takes) (?:a |the )?(?:wrong|different) (?:spin ?)?(?:lock|mutex)\b|"
            r"\b(?:wrong|different) (?:spin ?)?(?:lock|mutex) than\b",
            ("without holding", "without taking", "without grabbing", "without acquiring",
             "without any", "protected by", "lockless", "missing lock", "missing rcu", "unlocked",
             "unsynchron", "wrong lock", "different lock", "wrong spin", "different spin", "wrong mutex",
             "different mutex"),
            cancel=r"nesting notation"),
    Pattern("suspicious_rcu_report", "race", "R4", 0.92,
            r"suspicious rcu(?:_dereference\w*\(\))? usage|rcu-list traversed in non-reader",
            ("suspicious rcu", "rcu-list traversed"), signature=True,
            # lockdep's RCU check also reports a sleep in a read-side section: that is D4 (D6)
            cancel_message=r"illegal context switch in rcu"),
    Pattern("rcu_grace_reuse", "race", "R4", 0.6,
            r"(?:free|reus|recycl)\w* (?:\w+ ){0,4}(?:before|without) (?:waiting for )?(?:an? |the )?"
            r"(?:rcu )?grace period|rcu grace period before (?:\w+ )?(?:free|reuse|recycl)|"
            r"before (?:the )?rcu grace period",
            ("grace period",)),
    # load/store tearing (taxonomy R1: "torn on 32-bit"): a plain access another CPU sees half
    # done. Not "torn writes" of storage (a sector written half), which is no concurrency
    Pattern("tearing", "race", "R1", 0.6,
            r"\b(?:load|store|read|write)[- ]tearing\b|"
            r"\btorn (?:reads?|loads?|values?|accesses)\b|\btorn on (?:32|64)[- ]?bit\b",
            ("tearing", "torn")),
    # The rubric's negative: READ_ONCE's own implementation ("Override READ_ONCE() with barriered
    # implementation", "strengthen READ_ONCE() for Alpha", "use READ_ONCE macros") is not a marked access.
    Pattern("read_write_once", "race", "R1", 0.42,
            r"\b(?:read|write)_once\b", ("_once",), in_diff=0.5,
            cancel=r"\b(?:implement\w*|defined|definitions?|overrid\w*|strengthen\w*|barriered|codegen)\b|"
                   r"\b(?:read|write)_once(?:\(\))?'?\s+macros?\b|#\s*define\b"),
    Pattern("atomicity", "race", "R2", 0.3,
            r"\bnon-?atomic(?:ally)?\b|\bnot atomic(?:ally)?\b|\batomicity\b|"
            r"\b(?:must|should|needs? to) be (?:done )?atomic(?:ally)?\b|\btoctou\b|"
            r"check-then-(?:act|use)|time(?:-of-| of )check|\blost updates?\b",
            ("nonatomic", "non-atomic", "not atomic", "atomicity", "be atomic", "done atomic",
             "toctou", "check-then", "time-of-check", "time of check", "lost update"),
            cancel=r"atomic[ _-]writes?|untorn|atomic write unit"),
    Pattern("race_window", "race", "R2", 0.4,
            r"(?:small|tiny|narrow|short|timing) window|window (?:where|in which|between|during)",
            ("small window", "tiny window", "narrow window", "short window", "timing window",
             "window where", "window in which", "window between", "window during"),
            cancel=r"window(?:s)? (?:size|manager|system)|x window|congestion window size"),
    # An interleaving told in words (taxonomy 2.2): "3. Meanwhile, another write dirties page #3",
    # "At this point, an interrupt comes in and clears all pending messages", "A concurrent
    # ib_unregister_device walk can dispatch ...", "invalid access to the pointer by the intervening
    # process".
    Pattern("interleaving_narrative", "race", "R2", 0.55,
            r"\b(?:meanwhile|in the meantime|in the meanwhile|at (?:this|that) (?:point|moment|instant)),? (?:\w+ ){0,3}"
            r"(?:another|the other|a concurrent|an? (?:interrupt|irq|softirq|timer|worker|callback|signal)\b|"
            r"cpu ?\d|thread ?[0-9ab]\b|task ?[0-9ab]\b)(?: \w+){0,3} (?:comes? in|runs?|fires?|calls?|takes?|grabs?|"
            r"frees?|modifies|writes?|reads?|sets?|clears?|changes?|enters?|executes?|arrives?|acquires?|"
            r"dirties|sees|updates?|removes?|deletes?|inserts?|drops?|releases?|wakes?|completes?|submits?|"
            r"queues?|steals?)\b|"
            r"\ba concurrent [\w()]+(?: \w+){0,2} (?:can|could|may|might|will|would) (?!not\b)|"
            r"\bintervening (?:threads?|process(?:es)?|tasks?|cpus?|writers?|callers?|calls?|updates?)\b",
            ("meanwhile", "meantime", "this point", "that point", "this moment", "that moment",
             "this instant", "that instant", "a concurrent", "intervening")),
)

ORDERING = (
    Pattern("barrier_primitive", "ordering", "O1", 0.55,
            r"\bsmp_(?:mb|rmb|wmb|store_release|load_acquire|store_mb|cond_load_acquire|"
            r"mb__(?:before|after)_\w+|acquire__after_ctrl_dep)\b|\b(?:dma_|virt_)?[rw]mb\(\)|"
            r"\bmb\(\)|\bdma_[rw]mb\b",
            ("smp_", "mb()", "dma_rmb", "dma_wmb"), in_diff=0.55),
    # the barrier instructions of the architectures' memory models (arm64 "dmb oshst", "dsb sy";
    # powerpc lwsync, eieio): the same claim as smp_wmb() one level down
    Pattern("arch_barrier", "ordering", "O1", 0.55,
            r"\b(?:dmb|dsb)(?:\s*\(\s*\w*\s*\)|\s+(?:ish|ishst|ishld|osh|oshst|oshld|nsh|nshst|nshld|sy|st|ld)\b)|"
            r"\b(?:lwsync|hwsync|eieio)\b",
            ARCH_BARRIER_ANCHORS, in_diff=0.55),
    Pattern("acquire_release_primitive", "ordering", "O1", 0.5,
            r"\b(?:smp_\w+|(?:raw_)?atomic(?:64|_long)?_\w+|(?:try_)?(?:cmp)?xchg\w*|store|load)_"
            r"(?:acquire|release)\b|\bstore_release_wake_up\b",
            ("_acquire", "_release"), in_diff=0.5),
    Pattern("memory_barrier_word", "ordering", "O1", 0.7,
            r"memory[- ]barriers?|(?:read|write|full|release|acquire|store|load|paired|"
            r"general|smp) barriers?\b|barriers? (?:pair|pairs|paired|pairing)\b",
            ("barrier",), cancel=STORAGE_BARRIER, cancel_message=STORAGE_MESSAGE, stronger_with=("race", 0.8)),
    Pattern("barrier_word", "ordering", "O1", 0.4,
            r"\bbarriers?\b", ("barrier",), cancel=STORAGE_BARRIER + r"|compiler barrier",
            cancel_message=STORAGE_MESSAGE),
    Pattern("missing_barrier", "ordering", "O1", 0.8,
            r"(?:missing|missed|lack(?:s|ing)?(?: of)?|without(?: an?| the| any)?|add(?:s|ed|ing)?"
            r"(?: an?| the)?|misplaced|wrong|incorrect|insufficient) "
            r"(?:\w+ ){0,2}(?:memory |read |write |full |release |acquire )?barriers?\b|"
            r"(?:missing|misplaced|add(?:s|ed|ing)?|lacks?) (?:an? |the )?(?:smp_\w+|" + ARCH_BARRIER + r")",
            ("barrier", "smp_", *ARCH_BARRIER_ANCHORS), also=("race",),
            cancel=STORAGE_BARRIER + r"|" + NEGATED + r"(?:need|missing)|obviat|eliminat|remov\w* the need|"
                   r"no (?:longer )?need", cancel_message=STORAGE_MESSAGE),
    # reasoning about which barriers the code needs (O1/O5), not a claim one is missing
    Pattern("required_barrier", "ordering", "O1", 0.75,
            r"(?:required|needed|necessary|proper|appropriate|correct|right|implied|implicit|full) "
            r"(?:\w+ ){0,2}(?:memory |read |write |smp )?barriers?\b|"
            r"barriers? (?:\w+ ){0,2}(?:is|are|was|were) (?:\w+ )?(?:required|needed|necessary)\b|"
            r"need(?:s|ed)? (?:an? |the |some )?(?:\w+ ){0,2}(?:memory |read |write |full |smp )?barriers?\b|"
            r"need(?:s|ed)? (?:an? |the )?(?:smp_\w+|" + ARCH_BARRIER + r")",
            ("barrier", "smp_", *ARCH_BARRIER_ANCHORS), cancel=STORAGE_BARRIER + r"|compiler barrier",
            cancel_message=STORAGE_MESSAGE),
    Pattern("redundant_barrier", "ordering", "O1", 0.75,
            r"(?:redundant|useless|pointless|unnecessary|unneeded|superfluous|remove|drop|kill)\w* "
            r"(?:\w+ ){0,2}(?:memory )?(?:barrier|smp_\w+)|"
            r"(?:barrier|smp_\w+(?:\(\))?) (?:is|are|was|were) (?:not needed|unnecessary|redundant|"
            r"useless|pointless)",
            ("barrier", "smp_"), cancel=STORAGE_BARRIER),
    # a patch that reworks barriers it already has: "Replace smp_read_barrier_depends() usage with
    # smp_[r]mb()", "avoid atomic_set and smp_wmb in the tx path", "optimize barrier usage": an
    # ordering topic, and in a title no missing barrier (no D3 race; see score.co_label)
    Pattern("barrier_rework", "ordering", "O1", 0.5,
            r"\b(?:replac|convert|switch|upgrad|downgrad|optimi[sz]|relax|weaken|avoid|simplif|overrid)\w* "
            r"(?:[\w\[\]()]+ ){0,4}?(?:\w*barrier\w*|smp_\w+|\w+_(?:acquire|release)|[rw]?mb\(\))|"
            # READ_ONCE's own implementation (an architecture's override), not a marked access
            r"\b(?:overrid|strengthen)\w* (?:[\w\[\]()]+ ){0,4}?(?:__)?(?:read|write)_once|"
            r"(?:__)?(?:read|write)_once\w*(?:\(\))? (?:[\w\[\]()]+ ){0,4}?(?:be )?overridden",
            ("barrier", "smp_", "_acquire", "_release", "mb()", "_once"),
            cancel=r"nobarrier|barrier=|barrier_nospec|membarrier|speculat|nospec|spectre|rcu_barrier",
            cancel_message=STORAGE_MESSAGE),
    Pattern("pairs_with", "ordering", "O1", 0.65,
            r"(?:barrier|smp_\w+|mb\(\)|acquire|release|fence)\b.{0,60}\bpair(?:s|ed|ing)? with|"
            r"\bpair(?:s|ed|ing)? with\b.{0,60}(?:barrier|smp_\w+|mb\(\)|acquire|release|fence)",
            ("pair with", "pairs with", "paired with", "pairing with"),
            cancel=r"key|value|name|hash|index|tuple|pair with (?:the )?patch"),
    # naming the memory model is a passing mention (D2) unless more is said
    Pattern("memory_model_word", "ordering", "O5", 0.4, r"memory[- ]model|\blkmm\b", ("memory", "lkmm")),
    Pattern("memory_model", "ordering", "O5", 0.8,
            r"litmus|memory-barriers\.txt|weakly[- ]ordered|"
            r"weak(?:ly)? memory|memory[- ]order(?:ing|ed)?\b|happens-before|"
            r"out[- ]of[- ]order (?:execution|cpu|access|load|store|ops)|store[- ]buffer(?:ing)?\b|"
            r"message[- ]passing pattern",
            ("memory", "litmus", "weak", "happens-before", "of order", "of-order", "store buffer",
             "store-buffer", "message passing", "message-passing"), cancel=MECHANICAL_CHORE),
    Pattern("acquire_release_semantics", "ordering", "O1", 0.7,
            r"\bacquire[/ -](?:and )?release\b|\brelease[/ -](?:and )?acquire\b|"
            r"\b(?:acquire|release) (?:semantics|ordering|barrier|operation|store|load|fence)s?\b|"
            r"\bstore[- ]release\b|\bload[- ]acquire\b|\b(?:acquire|release)[- ]semantics",
            ("acquire", "release"), cancel=LOCK_VERBS),
    Pattern("ordering_guarantee", "ordering", "O5", 0.5,
            r"ordering (?:guarantee|semantics|constraint|requirement|rules?|propert)\w*|"
            r"(?:guarantee|provide|impl(?:y|ies)|give)s? (?:\w+ )?(?:the )?(?:needed |necessary |any |no |full )?"
            r"ordering\b|(?:fully|strongly|weakly|totally|strictly) ordered\b",
            ("ordering", "ly ordered"), cancel=OTHER_ORDER,
            cancel_message=STORAGE_MESSAGE),
    Pattern("cpu_reordering", "ordering", "O1", 0.65,
            r"(?:cpu|compiler|hardware|processor|memory|loads?|stores?|accesses|read|write)s? "
            r"(?:\w+ ){0,4}re-?order|re-?order\w* (?:\w+ ){0,5}(?:by the (?:cpu|compiler)|"
            r"cpu|compiler|hardware|processor|loads?|stores?|barrier|visible)|"
            r"(?:can|could|may|might) (?:be |get )?re-?ordered|"
            r"re-?ordering (?:between|of the (?:load|store|read|write|access))",
            ("reorder", "re-order"), cancel=NOT_MEMORY_ORDER + r"|" + LOCK_ORDER),
    # dependency ordering (LKMM, memory-barriers.txt): an address, data or control dependency
    # orders a later access after a load without a barrier
    Pattern("dependency_ordering", "ordering", "O1", 0.6,
            r"\b(?:control|address|data|ctrl)[- ]dependenc(?:y|ies)\b|"
            r"\bdependency[- ]order(?:ing|ed)?\b",
            ("dependenc",)),
    Pattern("visibility", "ordering", "O2", 0.6,
            r"(?:visible|observ\w+) (?:to|by|on) (?:the )?(?:other|another|all|remote|concurrent) "
            r"(?:cpus?|threads?|cores?|readers?|contexts?)|(?:must|should|to) be (?:globally )?visible "
            r"before|(?:becomes?|made|be) visible (?:before|after)|visibility (?:of|guarantee)|"
            r"(?<!been )(?<!be )publish(?:es|ed|ing)? (?:\w+ ){0,5}before|publish(?:es|ed|ing)?[- ]race|"
            r"(?:init\w*|set\w* up) (?:\S+ ){0,3}before (?:publish|expos|register)\w*|"
            r"(?:not yet|not fully|isn't yet) visible|"
            # "may not be observable by X if it is called immediately after Y": seen too early
            r"(?:not|n't) (?:yet )?(?:be )?(?:visible|observ(?:able|ed)) (?:to|by) (?:\S+ ){1,4}"
            r"(?:if|when|until|before|after|immediately)\b",
            ("visib", "observ", "publish", "not yet", "not fully", "isn't yet", "before expos",
             "before register"),
            cancel=r"crash|persist|durab|on[- ]disk|fsync",  # visible on storage, not to a CPU
            stronger_with=("race", 0.65)),
    # "not yet initialised" is an order problem only when another context can see the object
    Pattern("not_initialised", "ordering", "O2", 0.35,
            r"(?:not yet|not fully|isn't yet|before (?:it is|being) (?:fully )?)initiali[sz]ed",
            ("not yet", "not fully", "isn't yet", "before"), stronger_with=("race", 0.6)),
    Pattern("order_violation", "ordering", "O3", 0.45,
            r"\border(?:ing)? violation|\b(?:wrong|incorrect|reverse) order(?:ing)?\b|"
            r"\bnot (?:properly |correctly )?ordered\b|"
            r"(?:can|could|may|might) (?:\w+ ){0,2}(?:run|fire|execute|happen|be called|complete|"
            r"be scheduled|be queued|be delivered|be seen|be observed|be used|be accessed) "
            r"(?:\w+ ){0,3}(?:before|after) |"
            r"(?:must|should|has to|have to|needs? to) (?:\w+ ){0,2}(?:happen|be done|run|complete|be "
            r"(?:set|visible|initiali[sz]ed|published|registered|unregistered|cancell?ed|stopped))"
            r" (?:\w+ ){0,3}before\b",
            ("order violation", "ordering violation", "wrong order", "incorrect order",
             "reverse order", "t ordered", "y ordered", "before", "after"),
            cancel=OTHER_ORDER, cancel_message=STORAGE_MESSAGE,
            stronger_with=("race", 0.6)),
    # A fix that puts two operations in order ("Reorder rpcrdma_rn_unregister before
    # rdma_destroy_id", "Fix cwnd update ordering", "Restore the order of register_pernet_subsys()
    # vs register_cld_notifier()"): an order violation when the message is about a race (D5).
    Pattern("reorder_fix", "ordering", "O3", 0.35,
            r"\bre-?order(?:s|ed|ing)? (?:\S+ ){1,4}(?:before|after)\b|"
            r"\b(?:fix(?:es|ed)?|stricter|correct(?:s|ed)?|enforc\w+|restor\w+) (?:(?:\w+ ){0,3}"
            r"(?:re-?order\w*|ordering)\b|the order\b(?! to\b| for\b)|(?:\w+ ){0,3}order of\b)",
            # not "order" alone: "in order to" and btrfs's "ordered extent" are on thousands of lines
            ("reorder", "re-order", "ordering", "order of", "the order"),
            cancel=OTHER_ORDER + r"|parameter|argument|post order",
            cancel_message=STORAGE_MESSAGE,
            stronger_with=("race", 0.7)),
    # An order stated between two operations ("ndo_open() is called before virtio_device_ready()",
    # "PG_Checked is set strictly after bitmap is updated"): an order violation in a race (D5).
    Pattern("stated_order", "ordering", "O2", 0.25,
            r"\b(?:is|are|gets?|being|was|were) (?:\w+ )?(?:called|run|invoked|executed|scheduled|queued|"
            r"completed|done|set|cleared|written|updated|published|initiali[sz]ed) (?:\w+ )?(?:before|after|earlier)\b",
            ("before", "after", "earlier"), cancel=OTHER_ORDER,
            cancel_message=STORAGE_MESSAGE,
            stronger_with=("race", 0.55)),
    Pattern("ordering_word", "ordering", "O5", 0.3,
            r"\bordering\b", ("ordering",), cancel=OTHER_ORDER,
            cancel_message=STORAGE_MESSAGE,
            stronger_with=("race", 0.45)),
)

PATTERNS: tuple[Pattern, ...] = DEADLOCK + RACE + ORDERING


def top_level_branches(regex: str) -> list[str]:
    """The top-level alternatives of a regex (split at '|' outside groups and classes).

    tests/test_classify_patterns.py wants a real example line per branch that the scanner
    reports, so a branch no anchor reaches fails a test instead of silently never firing.
    """
    branches, depth, in_class, escaped, current = [], 0, False, False, []
    for ch in regex:
        if escaped:
            current.append(ch); escaped = False; continue
        if ch == "\\":
            current.append(ch); escaped = True; continue
        if in_class:
            current.append(ch)
            if ch == "]": in_class = False
            continue
        if ch == "[":
            in_class = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            branches.append("".join(current)); current = []; continue
        current.append(ch)
    branches.append("".join(current))
    return branches
