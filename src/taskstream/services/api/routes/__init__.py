"""HTTP routes: parse input, call one use case, map the result."""
