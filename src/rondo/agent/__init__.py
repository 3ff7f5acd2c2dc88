"""The build agent: registers, claims tasks that fit, runs them with an executor, streams events back."""
