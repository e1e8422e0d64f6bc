"""Limits on what one input may make lkml-miner hold, the same for local files and HTTP bodies.

Real kernel mail stays far below them; they are there so that a file of zeros, a 3 GB message or a
header of a million encoded words is a reject with its reason instead of all the memory or hours.
"""

MAX_BODY_BYTES = 256 * 1024 * 1024  # an HTTP response as received
MAX_DECOMPRESSED_BYTES = 1024 * 1024 * 1024  # a gzip stream (HTTP body or local .gz) after decompression
MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # one message; the largest LKML mails (logs, big patches) are a few MB
MAX_LINE_BYTES = 1024 * 1024  # a longer "line" is read in pieces of this size
REJECT_KEEP_BYTES = 64 * 1024  # what a reject keeps of a message that was too large to read whole

# What one message may contribute (parse.py): beyond these the rest is cut and the cut is noted.
MAX_HEADER_CHARS = 16 * 1024  # a text header (Subject, From) before RFC 2047 decoding
MAX_REFERENCES = 256  # Message-IDs kept from References: the first (the root) and the latest ones
