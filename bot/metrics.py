"""Prometheus metrics, served at `/metrics` (one set per process; scrape every process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

MESSAGES = Counter(
    "tsunagu_messages",
    "Customer events handled, by channel and kind.",
    ["channel", "kind"],
    registry=REGISTRY,
)
REPLIES = Counter(
    "tsunagu_replies",
    "Messages sent to customers, by channel and kind (answer, suggest, fallback, ...).",
    ["channel", "kind"],
    registry=REGISTRY,
)
HANDOFFS = Counter(
    "tsunagu_handoffs",
    "Conversations handed to a person, by channel.",
    ["channel"],
    registry=REGISTRY,
)
SURVEY_RESPONSES = Counter(
    "tsunagu_survey_responses",
    "Survey answers, by question and score.",
    ["question", "score"],
    registry=REGISTRY,
)
ERRORS = Counter(
    "tsunagu_errors", "Failures, by where they happened.", ["where"], registry=REGISTRY
)
# Outbound lanes: a channel's replies to customers (one lane per channel), or a desk's notices
# to agents (desk:<name>).
OUTBOUND_PENDING = Gauge(
    "tsunagu_outbound_pending",
    "Customers with sends parked for a retry (their platform was unavailable), by lane.",
    ["lane"],
    registry=REGISTRY,
)
OUTBOUND_PARKED = Counter(
    "tsunagu_outbound_parked",
    "Sends parked for a retry because their platform was unavailable, by lane.",
    ["lane"],
    registry=REGISTRY,
)
OUTBOUND_RETRIES = Counter(
    "tsunagu_outbound_retries",
    "Retries of parked sends, by lane and outcome (delivered, failed).",
    ["lane", "outcome"],
    registry=REGISTRY,
)
OUTBOUND_FAILED = Counter(
    "tsunagu_outbound_failed",
    "Sends that will never go out, by lane and why (refused, gave_up).",
    ["lane", "why"],
    registry=REGISTRY,
)
INBOX_LEASE_WAITS = Counter(
    "tsunagu_inbox_lease_waits",
    "Times a worker waited for a renewal to confirm its lease on an inbox shard before "
    "reading from it, starting an event or sending (its renewals came late: starved of CPU, "
    "stalled or cut off from Redis), by what waited (read, start, send).",
    ["waiting"],
    registry=REGISTRY,
)
QUEUE_LENGTH = Gauge("tsunagu_queue_length", "Customers waiting for a person.", registry=REGISTRY)
INBOX_PENDING = Gauge(
    "tsunagu_inbox_pending", "Events stored but not yet handled.", registry=REGISTRY
)
WAIT_SECONDS = Histogram(
    "tsunagu_wait_seconds",
    "Time from joining the queue to an agent's claim.",
    buckets=(10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200),
    registry=REGISTRY,
)
