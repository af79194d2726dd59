"""Every ``x-mtq-*`` AMQP header mtq sets or reads, in one place.

Routing headers of a result event (set by the worker, read by the dispatcher) make a message
deliverable without parsing its body; the others record what happened to a message on its
way (a dead letter's reason, a retry's attempt, a redrive).
"""

from __future__ import annotations

# A result event's routing (mtq/core/events.py): where it goes and what it is.
CALLBACK_HEADER = "x-mtq-callback-url"
JOB_ID_HEADER = "x-mtq-job-id"
EVENT_TYPE_HEADER = "x-mtq-event-type"
WEBHOOK_ID_HEADER = "x-mtq-webhook-id"
# The job's tenant, when it has one: the dispatcher's isolation per tenant reads it.
TENANT_HEADER = "x-mtq-tenant"
# job.progress (mtq/core/events.py): its ``done``, part of its webhook id; "false" on an event
# for the gateway's queue only (the job did not ask for options.progress): never POSTed.
DONE_HEADER = "x-mtq-done"
DELIVER_HEADER = "x-mtq-deliver"
# The job's x-delivery-count when it was answered (tests and a histogram read it).
DELIVERY_COUNT_HEADER = "x-mtq-delivery-count"
# Several events in one message (mtq/core/result_batch.py): the frame and its size.
EVENTS_HEADER = "x-mtq-events"
LENGTH_HEADER = "x-mtq-length"
# Why a message was moved aside (dead letters, parked results), and from which route.
REASON_HEADER = "x-mtq-reason"
ROUTE_HEADER = "x-mtq-route"
# A dead letter redriven to its queue: the reason it had.
REDRIVEN_FROM_HEADER = "x-mtq-redriven-from"
# The dispatcher's retry ladder (webhooks/events.py): attempts so far, the last answer, redrives.
ATTEMPT_HEADER = "x-mtq-attempt"
LAST_STATUS_HEADER = "x-mtq-last-status"
LAST_ERROR_HEADER = "x-mtq-last-error"
REDRIVES_HEADER = "x-mtq-redrives"
