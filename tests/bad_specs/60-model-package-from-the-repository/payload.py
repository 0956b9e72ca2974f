# Would run if a model package were imported from the repository; llmops never imports it.
raise SystemExit("payload.py ran")
