"""Live events of each video: appended to a Redis stream where the record changes, read as
Server-Sent Events by any API replica (`GET /v1/videos/{id}/events`)."""
