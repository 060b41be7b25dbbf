"""The orchestrator: starts the services as processes and talks to them over HTTP."""
