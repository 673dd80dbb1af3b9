"""One package per feature, each with its endpoints, use cases, repository and schemas."""
