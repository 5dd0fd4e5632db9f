"""The API process: FastAPI front door, video records, storage. Never imports torch."""
