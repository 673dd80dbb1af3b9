"""The wire contract: topics, the CloudEvents 1.0 envelope and versioned payload models."""
