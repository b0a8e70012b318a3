"""The pipeline's own database: staged records, failures, outbox, watermarks."""
