"""A thesaurus of the things tools act on, and of the arguments that reveal them.

People and APIs name the same resource differently: a request says "ping Alex" or "who's holding the
pager", the tools say ``post_message`` and ``list_oncalls``. Each concept class below lists the
resource nouns that tool names use (taken from the words of real ``tools/list`` names) next to the
words people use for the same thing (general English and SaaS usage). Tools and requests both get
the class's concept token for every member they contain, so BM25 matches a request to a tool through
the concept even when they share no word.

Arguments say what kind of thing a request is about, whatever words surround them: ``owner/repo`` is a
repository, ``ABC-123`` an issue, ``+14155550123`` a phone, ``~/q3.xlsx`` a spreadsheet. The
recognisers below name the kind of each argument shape in plain words, which reach the concept tokens
through the thesaurus and the embedding model in place of the argument itself.

Every class and recogniser was measured (remove it, re-run the evaluation); classes whose removal
helped every query set were dropped: spreadsheets (rows, cells and sheets are everywhere in table and
document tools), payments, costs, people (user, member) and links between issues. Their argument
kinds ("q3.xlsx" -> "spreadsheet") still reach the embedding model.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache

# concept -> member words and phrases (matched on stems, so "meetings" and "meeting" both count)
CONCEPTS: Mapping[str, tuple[str, ...]] = {
    # chat and text messages
    "message": ("message", "chat", "dm", "direct message", "ping", "sms", "mms", "text message", "whatsapp"),
    # where chat messages are posted
    "channel": ("channel", "chat room", "chatroom", "slack"),
    # e-mail, as distinct from chat
    "email": ("email", "mail", "inbox", "gmail", "outlook", "mailbox"),
    # a slot in someone's calendar
    "event": (
        "event",
        "meeting",
        "calendar",
        "appointment",
        "invite",
        "invitation",
        "standup",
        "huddle",
        "attendee",
        "freebusy",
        "agenda",
        "rsvp",
    ),
    # who is on duty, and when
    "oncall": ("oncall", "on call", "pager", "rotation", "shift", "override", "escalation", "roster"),
    # recurring or timed runs
    "schedule": ("schedule", "cron", "recurring", "nightly", "hourly", "daily", "weekly", "timer", "reminder"),
    # something broke in production
    "incident": ("incident", "alert", "outage", "alarm", "downtime", "postmortem", "sev"),
    # what an assistant is asked to keep in mind across conversations (narrower than "memory" below:
    # memory servers name themselves so and speak of entities in a knowledge graph)
    "remembering": ("remember", "memorize", "memory", "knowledge graph", "keep in mind", "forget"),
    # what people and tools keep as notes or long-term memory
    "memory": (
        "memory",
        "remember",
        "memorize",
        "note",
        "memo",
        "jot",
        "knowledge",
        "observation",
        "entity",
        "fact",
        "notebook",
        "journal",
    ),
    # files on a disk
    "file": ("file", "folder", "directory", "path", "filesystem", "disk"),
    # word-processor documents
    "document": ("document", "docx", "word document", "paragraph", "footnote", "heading"),
    # slide decks
    "presentation": ("presentation", "slide", "deck", "pptx", "powerpoint", "keynote"),
    # pictures of any kind
    "image": ("image", "picture", "photo", "screenshot", "png", "jpg", "jpeg", "gif", "icon", "logo"),
    # data drawn as a figure
    "chart": ("chart", "graph", "plot", "visualization", "visualisation", "visualize", "histogram", "diagram"),
    # issue trackers
    "issue": ("issue", "ticket", "bug", "defect", "story", "epic", "subtask", "backlog"),
    # proposed code changes under review
    "pullrequest": ("pull request", "merge request", "pr", "mr", "code review"),
    # code hosting
    "repository": ("repository", "repo", "codebase", "monorepo", "fork"),
    # version-control history
    "commit": ("commit", "branch", "sha", "changeset", "diff"),
    # continuous integration
    "pipeline": ("pipeline", "build", "ci", "workflow", "job"),
    # putting code into an environment
    "deployment": ("deployment", "deploy", "release", "ship", "rollout", "rollback"),
    # what running systems write down
    "log": ("log", "trace", "stacktrace", "stack trace", "exception", "traceback", "crash"),
    # numbers that running systems report
    "metric": ("metric", "cpu", "latency", "throughput", "dashboard", "monitor", "uptime"),
    # databases and their parts
    "database": ("database", "db", "sql", "table", "schema", "collection", "postgres", "mysql", "mongo", "sqlite"),
    # object storage
    "storage": ("bucket", "blob", "s3", "object storage"),
    # containers and their images
    "container": ("container", "docker", "compose", "dockerfile"),
    # running programs on a machine
    "process": ("process", "pid", "daemon", "task manager"),
    # kubernetes objects
    "cluster": ("kubernetes", "k8s", "cluster", "pod", "namespace", "kubectl", "helm", "node"),
    # telephony
    "phone": ("phone", "call", "sms", "voice", "dial", "caller", "voicemail"),
    # web pages
    "webpage": ("url", "website", "webpage", "site", "link", "html", "scrape", "crawl"),
    # secrets
    "secret": ("secret", "credential", "password", "token", "apikey", "api key"),
    # places on a map
    "place": ("map", "location", "place", "address", "route", "geocode", "nearby", "city"),
    # published research
    "paper": ("paper", "article", "arxiv", "preprint", "abstract", "citation"),
    # installable software packages
    "package": ("package", "library", "dependency", "npm", "pypi", "module"),
    # automated tests
    "test": ("test", "spec", "e2e", "flaky", "coverage", "qa"),
    # remarks left on something
    "comment": ("comment", "remark", "feedback", "annotation", "reply", "review"),
    # the weather
    "weather": ("weather", "forecast", "temperature", "rain", "climate"),
    # tradable assets
    "stock": ("stock", "ticker", "share price", "market", "crypto", "coin", "exchange rate", "nasdaq"),
}

PREFIX = "concept"  # concept tokens are "concept" + class name: not a word any text contains


def token(concept: str) -> str:
    return PREFIX + concept


# Shapes other modules look for too.
URL = r"\bhttps?://\S+|\bwww\.\S+\.\w+"  # https://example.com/pricing, www.acme.com
ISSUE_KEY = r"\b[A-Z][A-Z0-9]{1,9}-\d+\b"  # ENG-4521 (Jira/Linear issue keys)
COMMIT_HASH = r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}\b"  # a1b2c3d: hex with letters and digits

# Argument shapes -> the words for what they are. Every match counts; the words go through the
# thesaurus above like any other word, and to the embedding model in place of the argument.
_ARGUMENT_KINDS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(URL), "url"),
    # acme.com, docs.example.io (bare domains; not e-mail addresses or file names)
    (re.compile(r"(?<![@\w.-])(?:[a-z0-9-]+\.)+(?:com|org|net|io|dev|ai|co|app)\b(?![@\w-])"), "url"),
    # sam@acme.com
    (re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.]+\b"), "email user"),
    # @alex (mentions of a person in chat)
    (re.compile(r"(?<![\w.@])@[A-Za-z][\w.-]*\b(?!\.\w)"), "user message"),
    # +14155550123, (415) 555-0123
    (re.compile(r"(?<![\w/])\+\d{7,15}\b|\(\d{3}\)\s*\d{3}-\d{4}\b"), "phone message"),
    (re.compile(ISSUE_KEY), "issue"),
    # #482 (GitHub issues and pull requests), !482 (GitLab merge requests)
    (re.compile(r"(?<![\w&])#\d+\b"), "issue pull request"),
    (re.compile(r"(?<![\w!])!\d+\b"), "merge request"),
    # #releases (chat channels)
    (re.compile(r"(?<![\w&])#[a-zA-Z][\w-]*"), "channel message"),
    # acme/payments-api (owner/repo slugs: owners have no dots; not paths, URLs, dates, "CI/CD" or "and/or")
    (re.compile(r"(?<![\w/.~:-])[A-Za-z][\w-]{2,}/[A-Za-z][\w.-]{2,}(?![\w/])"), "repository"),
    # ~/data/x, /var/log/x, ./src, C:\Users
    (re.compile(r"(?:^|\s)(?:~|\.{1,2})?/[\w.-]+/\S*|(?:^|\s)~/\S+|\b[A-Za-z]:\\\S+"), "file"),
    # postgres:16, redis:7-alpine, ghcr.io/acme/api:latest (container images; not app.py:42)
    (re.compile(r"(?<![\w.])(?:[\w.-]+/)*[a-z][\w-]*:(?:\d[\w.-]*|latest|alpine|slim)\b"), "container"),
    # SELECT ... FROM, INSERT INTO, UPDATE ... SET, db.orders.find(
    (
        re.compile(
            r"\bselect\b.+\bfrom\b|\binsert\s+into\b|\bupdate\s+\w+\s+set\b|\bdelete\s+from\b|\bdb\.\w+\.\w+\(",
            re.IGNORECASE,
        ),
        "database",
    ),
    # */5 * * * * (cron expressions)
    (re.compile(r"(?:^|\s)(?:[\d*/,-]+\s+){4}[\d*/,-]+(?:\s|$)"), "schedule"),
    (re.compile(COMMIT_HASH), "commit"),
    # 10am, 14:30 (times of day)
    (re.compile(r"\b\d{1,2}(?::\d{2})?\s*(?:am|pm)\b|\b\d{1,2}:\d{2}\b", re.IGNORECASE), "event schedule"),
    # 500s, 5xx, HTTP 404 (error responses show up in logs and metrics)
    (re.compile(r"\b[45](?:\d\d|xx)s\b|\b[45]xx\b|\b(?:http|status|error)\s*[45]\d\d\b", re.IGNORECASE), "log metric"),
    # v2.3.1 (release and package versions)
    (re.compile(r"\bv?\d+\.\d+\.\d+\b"), "deployment package"),
    # $49.99
    (re.compile(r"[$€£]\s?\d"), "payment cost"),
)

# file extension -> what such a file is
_EXTENSIONS: Mapping[str, str] = {
    **dict.fromkeys(("xlsx", "xls", "xlsm", "csv", "tsv", "ods"), "spreadsheet file"),
    **dict.fromkeys(("docx", "doc", "odt", "rtf"), "document file"),
    **dict.fromkeys(("pptx", "ppt", "odp", "key"), "presentation file"),
    **dict.fromkeys(("png", "jpg", "jpeg", "gif", "webp", "svg", "bmp", "tiff"), "image file"),
    # (not .js: "Node.js", "Next.js" name frameworks more often than files)
    **dict.fromkeys(("pdf", "txt", "md", "json", "yaml", "yml", "toml", "log", "py", "ts", "go", "rs"), "file"),
    **dict.fromkeys(("sql", "sqlite", "db"), "database file"),
}
_FILE_NAME = re.compile(r"\b[\w.-]+\.([A-Za-z]{2,5})\b")


def argument_kinds(text: str) -> list[str]:
    """Words for the kinds of the request's arguments ("+14155550123" -> "phone", "message")."""
    return list(_argument_kinds(text))


@lru_cache(maxsize=256)  # a request's text is read for BM25 and for the embedding: one scan serves both
def _argument_kinds(text: str) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for pattern, kind in _ARGUMENT_KINDS:
        if pattern.search(text):
            found.update(dict.fromkeys(kind.split()))
    for extension in _FILE_NAME.findall(text):
        found.update(dict.fromkeys(_EXTENSIONS.get(extension.lower(), "").split()))
    return tuple(found)


def file_kind(path: str) -> str:
    """What a file is, by its extension: "q3.xlsx" -> "spreadsheet file", anything else "file"."""
    name = path.rsplit("/", 1)[-1]
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return _EXTENSIONS.get(extension) or "file"
