"""What a bug report says: lock classes, functions, the detector that fired, the syzbot id (pure functions).

Input is the text of messages (a subject, a body); output is plain lists in order of first
appearance. Everything here reads the shapes the kernel's detectors print (lockdep, KCSAN,
KASAN, hung-task, might_sleep, RCU) and the way syzbot and the kernel test robot sign
their reports, so prose that only *talks* about lockdep does not become a lock or a tool.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from miner.body import QUOTE_PREFIX
from miner.classify import kinds

# -- lock classes ----------------------------------------------------------------------------

# "ffff888144a02870 (&sqd->lock){+.+.}-{3:3}, at: ..." (held / acquiring / chain "-> #1 (...){...}:")
# The usage string is 2, 4 or 6 of + - . ? (older kernels print 6); the name runs to the first "){".
LOCKDEP_CLASS = re.compile(r"\((?P<name>[^\s{}][^{}\n]*?)\)\{[-+.?]{2,8}\}")
# "  lock(&sqd->lock);" / "  rlock(&p->lock);" in "Possible unsafe locking scenario" tables
SCENARIO_LOCK = re.compile(r"^\s*(?:<Interrupt>\s*)?(?:r|w)?lock\((?P<name>[^;\n]+?)\);")
SCENARIO_START = re.compile(r"Possible (?:unsafe locking scenario|interrupt unsafe locking scenario)")
LOCK_SUBCLASS = re.compile(r"/\d+$")  # lock(&sqd->lock/1): the same class, nested with a subclass
MAX_LOCKS = 24


# "[  781.752971] " / "[   35.659746][    C0] " / "[T1234] ": the printk time stamp and caller of a dmesg line
DMESG_PREFIX = re.compile(r"^\s*(?:\[\s*\d+\.\d+\]\s?)?(?:\[\s*[CT]\d+\]\s?)?")


def unquoted(line: str) -> str:
    """A report line without ``>`` quote marks (splats are often quoted in replies) and dmesg time stamps."""
    if not line or line[0] not in "> \t[":
        return line  # most lines: nothing to strip
    match = QUOTE_PREFIX.match(line)
    if match:
        line = line[match.end():]
    if line[:1] in " [\t":
        line = DMESG_PREFIX.sub(" ", line, count=1) if DMESG_PREFIX.match(line).end() else line
    return line


def normalise_lock(name: str) -> str | None:
    """A lock class as lockdep names it (``&sqd->lock``, ``sb_internal#2``), or None if it is not one."""
    name = name.strip()
    name = LOCK_SUBCLASS.sub("", name)
    if not name or len(name) > 120 or any(space in name for space in " \t"):
        return None
    if name.startswith("0x") or name.isdigit() or not re.search(r"[A-Za-z_]", name):
        return None
    return name


def lock_classes(lines: Iterable[str]) -> list[str]:
    """Lock classes named by lockdep lines (acquire, held-by, dependency chain, scenario tables)."""
    found: dict[str, None] = {}
    in_scenario = 0
    for raw_line in lines:
        if not in_scenario and "){" not in raw_line and "scenario" not in raw_line:
            continue  # no class name and no scenario table can start here: most lines of a thread
        line = unquoted(raw_line)
        if SCENARIO_START.search(line):
            in_scenario = 40  # the table is a few dozen lines at most
            continue
        candidates = [m.group("name") for m in LOCKDEP_CLASS.finditer(line)]
        if in_scenario:
            in_scenario -= 1
            if "*** DEADLOCK ***" in line:
                in_scenario = 0
            match = SCENARIO_LOCK.match(line)
            if match:
                candidates.append(match.group("name"))
            # a two-column table: "  lock(A);  lock(B);" side by side
            candidates += [m.group(1) for m in re.finditer(r"\block\(([^;()\s]+(?:\([^;]*?\))?[^;()\s]*)\);", line)]
        for candidate in candidates:
            name = normalise_lock(candidate)
            if name:
                found.setdefault(name)
        if len(found) >= MAX_LOCKS:
            break
    return list(found)


# -- functions -------------------------------------------------------------------------------

KCSAN_TITLE = re.compile(r"KCSAN: (?:data-race|assert: race|assert: [\w-]+) in (?P<a>[\w.]+)(?: / (?P<b>[\w.]+))?")
# "read to 0xffff88811d8df330 of 8 bytes by task 6412 on cpu 0:" (also "write (marked)", "by interrupt")
KCSAN_ACCESS = re.compile(r"^(?:read|write|read-write)(?: \(marked\))? to 0x[0-9a-f]+ of \d+ bytes by "
                          r"(?:task \d+|interrupt) on cpu \d+:")
FRAME = re.compile(r"^\s*(?:\[<[0-9a-f]+>\]\s*)?(?P<unreliable>\? )?(?P<func>[A-Za-z_][\w.]*)"
                   r"(?P<offset>\+0x[0-9a-f]+/0x[0-9a-f]+)?(?:\s+\[\w+\])?(?:\s+\S+:\d+)?(?:\s+\[inline\])?\s*$")
# syzbot report titles: "possible deadlock in f", "INFO: task hung in f", "KCSAN: data-race in f / g"...
SYZBOT_TITLE_FUNCTION = re.compile(
    r"(?:possible deadlock|task hung|still has locks held|inconsistent lock state|"
    r"possible recursive locking|circular locking|suspicious RCU usage|rcu detected stall|"
    r"sleeping function called from invalid context|scheduling while atomic|"
    r"(?:slab-)?use-after-free (?:Read|Write)|(?:slab|global|stack|vmalloc)-out-of-bounds (?:Read|Write)|"
    r"null-ptr-deref (?:Read|Write)|general protection fault|WARNING|BUG|lock held when returning"
    r"[\w ]*|bad unlock balance|held lock freed|unable to handle kernel paging request|"
    r"soft lockup|hard lockup|kernel BUG|invalid wait context|"
    r"[\w-]+(?: [\w-]+)?) in (?P<func>[A-Za-z_][\w.]*)\b"
)
REPORT_TITLE = re.compile(
    r"(?:possible deadlock|task hung|still has locks held|inconsistent lock state|possible recursive locking|"
    r"circular locking|suspicious RCU usage|rcu detected stall|sleeping function called from invalid context|"
    r"scheduling while atomic|use-after-free|out-of-bounds|null-ptr-deref|general protection fault|"
    r"lock held when returning|bad unlock balance|held lock freed|soft lockup|hard lockup|kernel BUG|"
    r"invalid wait context|WARNING|BUG|KASAN|KCSAN) in $", re.IGNORECASE)
CALL_TRACE = re.compile(r"^\s*Call Trace:\s*$")
TRACE_END = re.compile(r"^\s*(?:</TASK>|---\[ end trace|Modules linked in|RIP:|"
                       r"Code:|Allocated by|Freed by|The buggy address|irq event stamp|==+\s*$)")
# Frames that say how the report was printed or how a lock was taken, not where the bug is.
LOCKING_OR_REPORTING_FRAME = re.compile(
    r"^(?:_*dump_stack(?:_lvl)?|show_stack|print_\w+|check_\w+|validate_chain|lock_acquire|lock_release|"
    r"__lock_acquire(?:\.cold)?|lock_acquired|lock_contended|mark_lock|mark_usage|lockdep_\w+|"
    r"debug_check_no_locks\w*|_*might_(?:sleep|resched|fault)|_*cant_sleep|"
    r"_*mutex_lock\w*|mutex_lock_\w+|_*mutex_unlock\w*|_*ww_mutex_\w+|"
    r"_*raw_spin_\w+|_*raw_read_\w+|_*raw_write_\w+|_*spin_(?:un)?lock\w*|do_raw_\w+|queued_\w+|"
    r"_*down_(?:read|write)\w*|_*up_(?:read|write)\w*|down|up|_*rwsem_\w+|rwsem_\w+|percpu_(?:down|up)_\w+|"
    r"_*rt_mutex\w*|rt_spin_\w+|rtlock_\w+|_*local_bh_\w+|_*rcu_read_(?:un)?lock\w*|"
    r"lock_sock\w*|release_sock|_*wait_for_common\w*|wait_for_completion\w*|schedule\w*|_*schedule|"
    r"kasan_\w+|__kasan_\w+|kcsan_\w+|__tsan_\w+|report_bug|handle_bug|exc_\w+|asm_exc_\w+|__warn\w*|"
    r"warn_\w+|panic|ubsan_\w+|__ubsan_\w+|kmsan_\w+|"
    r"do_syscall_\w+|entry_SYSCALL\w*|__x64_sys_\w+|__do_sys_\w+|__se_sys_\w+|x64_sys_call|"
    r"ret_from_fork\w*|kthread|worker_thread|process_one_work|process_scheduled_works|"
    r"rcu_core\w*|rcu_do_batch|__do_softirq|handle_softirqs|irq_exit\w*|__irq_exit_rcu|"
    r"sysvec_\w+|asm_sysvec_\w+|asm_common_interrupt|common_interrupt|do_group_exit|do_exit|"
    r"get_signal|arch_do_signal_or_restart|exit_to_user_mode\w*|syscall_exit_to_user_mode\w*|"
    r"__syscall_exit_to_user_mode_work|handle_signal_work|cpu_startup_entry|do_idle|start_kernel|"
    r"secondary_startup_64\w*|__sys_\w+|"
    # allocator internals: where a sleep-in-atomic report sleeps, not where the bug is
    r"slab_pre_alloc_hook|should_failslab|might_alloc|_*kmem_cache_alloc\w*|_*kmalloc\w*|_*kvmalloc\w*|"
    r"_*slab_alloc\w*|_+slab_alloc\w*|_*alloc_pages\w*|prepare_alloc_pages|fs_reclaim_(?:acquire|release)|"
    r"kmem_cache_zalloc|kzalloc\w*|"
    # sleeping and waiting: where a hung task waits, not where the bug is
    r"io_schedule\w*|_*wait_on_bit\w*|out_of_line_wait_on_bit\w*|bit_wait\w*|wait_on_page_bit\w*|"
    r"_*wait_event\w*|_*wait_for_\w+|_*folio_wait\w*|wait_woken|prepare_to_wait\w*|"
    # sanitizer and list-debug instrumentation
    r"_*asan_\w+|check_memory_region\w*|__list_\w+_valid\w*|__check_object_size)$"
)
# Functions that take or drop a lock under another name (btrfs_tree_read_lock, __lock_task_sighand,
# unlock_up, inode_lock_nested, down_read_nested...): locking primitives of a subsystem.
LOCK_WRAPPER_FRAME = re.compile(r"(?:^|_)(?:un)?lock(?:$|_|s$|ed$)|(?:^|_)(?:read|write)_(?:un)?lock|rwsem|mutex|"
                                r"(?:^|_)spin_|(?:^|_)(?:down|up)_(?:read|write)")
MAX_TRACE_FUNCTIONS = 3
FUNCTION_SUFFIX = re.compile(r"(?:\.(?:part|isra|constprop|cold|llvm)(?:\.\d+)?)+$")


def function_name(name: str) -> str:
    """A frame's function without compiler clone suffixes (``.part.0``, ``.isra.0``, ``.cold``)."""
    return FUNCTION_SUFFIX.sub("", name)


def is_plumbing_frame(name: str) -> bool:
    """True for frames of locking primitives, lock wrappers, allocators and the report machinery itself."""
    name = function_name(name)
    return bool(LOCKING_OR_REPORTING_FRAME.match(name) or LOCK_WRAPPER_FRAME.search(name))


def kcsan_functions(lines: Iterable[str]) -> list[str]:
    """Functions of KCSAN reports: the title pair and the first offset frame of each access stack."""
    found: dict[str, None] = {}
    waiting_for_frame = False
    for raw_line in lines:
        line = unquoted(raw_line)
        title = KCSAN_TITLE.search(line)
        if title:
            found.setdefault(title.group("a"))
            if title.group("b"):
                found.setdefault(title.group("b"))
            continue
        if KCSAN_ACCESS.match(line.strip()):
            waiting_for_frame = True
            continue
        if waiting_for_frame:
            frame = FRAME.match(line)
            if not frame:
                waiting_for_frame = False
            elif frame.group("offset"):
                found.setdefault(frame.group("func"))
                waiting_for_frame = False
    return list(found)


def title_functions(subject: str, syzbot: bool = False) -> list[str]:
    """The function a report title names ("possible deadlock in f", "KCSAN: data-race in f / g").

    Any "<words> in f" shape counts only in syzbot titles (``syzbot``); elsewhere a title must name
    a detector's report ("possible deadlock in", "task hung in"...), so that "Cleanup error handling
    in relocation" names no function.
    """
    kcsan = KCSAN_TITLE.search(subject)
    if kcsan:
        return [name for name in (kcsan.group("a"), kcsan.group("b")) if name]
    match = SYZBOT_TITLE_FUNCTION.search(subject)
    if not match or (not syzbot and REPORT_TITLE.search(subject[:match.start("func")]) is None):
        return []
    return [match.group("func")]


def trace_functions(lines: Iterable[str], limit: int = MAX_TRACE_FUNCTIONS) -> list[str]:
    """The top frames of the first ``Call Trace:`` that are neither locking primitives nor report plumbing."""
    found: list[str] = []
    in_trace = False
    for raw_line in lines:
        line = unquoted(raw_line)
        if not in_trace:
            in_trace = bool(CALL_TRACE.match(line))
            continue
        if TRACE_END.match(line) or not line.strip():
            if found:
                break
            if not line.strip():
                continue
            in_trace = False
            continue
        frame = FRAME.match(line)
        if not frame:
            if line.strip() in ("<TASK>", "<IRQ>", "</IRQ>"):
                continue
            if found:
                break
            in_trace = False
            continue
        function = function_name(frame.group("func"))
        if frame.group("unreliable") or function.startswith("__pfx_"):
            continue  # "? f+0x.." frames are stale stack contents, not the call chain
        if is_plumbing_frame(function) or function in found:
            continue
        found.append(function)
        if len(found) >= limit:
            break
    return found


# -- detectors and reporters -----------------------------------------------------------------

# The banner each detector prints: a line that starts this way is a report, not talk about one.
DETECTOR_BANNERS: tuple[tuple[str, re.Pattern], ...] = (
    ("KCSAN", re.compile(r"^\s*(?:BUG: )?KCSAN: (?:data-race|assert)")),
    ("KASAN", re.compile(r"^\s*(?:BUG: )?KASAN: [\w-]+")),
    ("hung task", re.compile(r"^\s*INFO: task \S+ blocked for more than \d+ seconds")),
    ("sleep-in-atomic", re.compile(r"^\s*BUG: (?:sleeping function called from invalid context|"
                                   r"scheduling while atomic)")),
    ("RCU", re.compile(r"^\s*(?:INFO: )?rcu_\w+ (?:self-)?detected (?:stalls?|expedited stalls?)|"
                       r"^\s*WARNING: suspicious RCU usage")),
    ("lockdep", re.compile(
        r"^\s*\[?\s*(?:WARNING|BUG|INFO): (?:possible circular locking dependency detected|"
        r"possible recursive locking detected|inconsistent lock state|possible irq lock inversion dependency|"
        r"[\w-]+-safe -> [\w-]+-unsafe lock order detected|bad unlock balance detected|"
        r"held lock freed|lock held when returning to user space|still has locks held|"
        r"Invalid wait context|lock held at task exit time|nested lock was not taken|"
        r"bad contention detected|MAX_LOCKDEP_\w+ too low)")),
)
# A body without any of these holds no banner (a cheap test before reading it line by line).
DETECTOR_MARKS = ("KCSAN:", "KASAN:", "INFO:", "BUG:", "WARNING:", "rcu_")
# syzbot titles name the detector without a banner line in the subject
TITLE_DETECTORS: tuple[tuple[str, re.Pattern], ...] = (
    ("KCSAN", re.compile(r"\bKCSAN:")),
    ("KASAN", re.compile(r"\bKASAN:")),
    ("hung task", re.compile(r"\btask hung in\b")),
    ("lockdep", re.compile(r"\b(?:possible deadlock in|inconsistent lock state in|possible recursive locking|"
                           r"still has locks held in|circular locking dependency|lock held when returning)")),
    ("sleep-in-atomic", re.compile(r"sleeping function called from invalid context|scheduling while atomic")),
    ("RCU", re.compile(r"suspicious RCU usage|rcu detected stall")),
)
SYZBOT_ADDRESS = re.compile(r"\bsyzbot\+(?P<id>[0-9a-f]{8,40})@", re.IGNORECASE)
SYZBOT_DASHBOARD = re.compile(r"syzkaller\.appspot\.com/bug\?(?:extid|id)=(?P<id>[0-9a-f]{8,40})")
TEST_ROBOT = re.compile(r"\b(?:kernel test robot|lkp@intel\.com)\b", re.IGNORECASE)
TOOL_ORDER = ("lockdep", "KCSAN", "KASAN", "hung task", "sleep-in-atomic", "RCU", "syzbot", "kernel test robot",
              "human")


def detectors(lines: Iterable[str]) -> list[str]:
    """Detectors whose report banner appears in the lines (quoted copies count: rootless threads)."""
    found: dict[str, None] = {}
    for raw_line in lines:
        if ":" not in raw_line:  # every banner has one (and unquoting adds none)
            continue
        line = unquoted(raw_line)
        for tool, banner in DETECTOR_BANNERS:
            if tool not in found and banner.match(line):
                found.setdefault(tool)
    return list(found)


def title_detectors(subject: str) -> list[str]:
    """Detectors a report title names (syzbot titles carry no banner line)."""
    return [tool for tool, pattern in TITLE_DETECTORS if pattern.search(subject)]


def syzbot_id(text: str) -> str | None:
    """The syzbot bug id of ``Reported-by: syzbot+<id>@...`` or of a dashboard link, if any."""
    match = SYZBOT_ADDRESS.search(text) or SYZBOT_DASHBOARD.search(text)
    return match.group("id").lower() if match else None


def is_bot(address: str | None, name: str | None = None) -> bool:
    """True for the senders the classifier's message kinds take for robots (syzbot, build and CI robots,
    tip-bot), and for the kernel test robot by name."""
    sender = (address or "").lower()
    return bool(kinds.SYZBOT_SENDER.search(sender) or kinds.ROBOT_SENDER.search(sender) or "tip-bot" in sender
                or TEST_ROBOT.search(name or ""))


def order_tools(tools: Iterable[str]) -> list[str]:
    """Tools in one fixed order (detectors first, then who ran them), each once."""
    wanted = set(tools)
    return [tool for tool in TOOL_ORDER if tool in wanted]
