"""Pure domain rules: tasks, priorities, recurrence, reminders, filters. No I/O, no framework imports."""
