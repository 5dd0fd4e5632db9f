"""Webhooks: signed event deliveries for video status changes.

    events.py         what an event looks like, and `emit()`, called after each status change
    subscriptions.py  create-time validation of a request's `webhook_url` and `webhook_events`
    config.py         the webhook settings in parsed form (malformed ones stop start-up)
    signing.py        Standard Webhooks signatures (`whsec_` secrets, several for rotation)
    url_safety.py     SSRF guard: resolve once, refuse private addresses, pin the checked IP
    deliveries.py     delivery records in Redis (listed by the API) and their notify jobs
    sender.py         one HTTP attempt against the pinned address, classified

The API only writes delivery records and enqueues; `workers/notify.py` does the sending.
"""
