"""The network side: fetch mail politely, keep every response, hand the mail to ingest.

``http`` is the one polite HTTP layer (robots.txt, pace, retries, limits) and ``cache`` the raw
response cache behind it; ``lore`` speaks to public-inbox servers (search, thread mbox, git
mirrors); ``archives/`` reads the pages of legacy web archives; ``scrape`` runs saved searches,
syncs and page crawls. What is fetched becomes RawMail and goes through the same ingest as a
local archive (``miner.sources``).
"""
