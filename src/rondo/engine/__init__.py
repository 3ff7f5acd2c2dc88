"""The pipeline engine: triggers, compile, the workflow/job graph, the task queue, agents. No HTTP here."""
