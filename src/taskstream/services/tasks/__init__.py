"""The task use cases, shared by the api (user changes) and recurring (next occurrences) services."""
