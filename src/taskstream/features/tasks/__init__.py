"""Tasks: the task use cases, their endpoints, repository and the recurring series."""
